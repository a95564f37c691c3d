"""Hostile input against the receiver (issue 10): each case here failed on the code before its fix.

Requests go over real HTTP; where a client library would tidy the request up (dot segments,
header bytes, a stalled body) they are written to the socket by hand.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.integration.webhooks.support import (
    CALLBACK_TOKEN,
    MERCHANT,
    WRONG_TOKEN,
    Receiver,
    assert_no_secrets,
    dump_rows,
    inbox_rows,
    post_json,
    return_delivery,
    signed_headers,
)

pytestmark = pytest.mark.integration

BEARER = {"Authorization": f"Bearer {CALLBACK_TOKEN}", "Content-Type": "application/json"}
CID = "RLY-4242"


def _envelope(**overrides: Any) -> dict[str, Any]:
    return {
        "message_type": "rmaEvent",
        "message_id": "m-1",
        "api_version": "2.0",
        "data": [{"id": "u-1", "customer_identifier": CID, "event_type": "tendered", "as_of": ""}],
        **overrides,
    }


def raw_http(base_url: str, request: bytes, *, wait_s: float = 5.0) -> tuple[int | None, bytes]:
    """Write ``request`` to the server's socket as is; the status (None: closed without one)."""
    parts = urlsplit(base_url)
    data = b""
    with socket.create_connection((parts.hostname, parts.port), timeout=wait_s) as sock:
        sock.sendall(request)
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except TimeoutError:
            pass
    if not data.startswith(b"HTTP/1.1 "):
        return None, data
    return int(data.split(b" ", 2)[1]), data


def _post_request(
    target: str, body: bytes, headers: dict[str, str] | None = None, raw_headers: bytes = b""
) -> bytes:
    lines = [f"POST {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines.append(f"Content-Length: {len(body)}")
    head = "".join(f"{line}\r\n" for line in lines).encode("latin-1")
    return head + raw_headers + b"\r\n" + body


def _signed(body: dict[str, Any] | bytes, **kwargs: Any) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw, signed_headers(raw, **kwargs)


def _pending(rx: Receiver) -> list[Any]:
    return [r for r in inbox_rows(rx.ledger) if r.status != "rejected"]


def _rejected(rx: Receiver) -> list[Any]:
    return inbox_rows(rx.ledger, "rejected")


# --- 1. the merchant in the path -------------------------------------------------------------


@pytest.mark.parametrize(
    "segment",
    [
        pytest.param("..", id="dot-dot"),
        pytest.param("%2E%2E", id="encoded-dot-dot"),
        pytest.param(".", id="dot"),
        pytest.param("a%0Ab", id="newline"),
        pytest.param("a%00b", id="nul"),
        pytest.param("a%ED%A0%80b", id="surrogate-bytes"),
        pytest.param("a" * 300, id="very-long"),
        pytest.param("Sandbox-Merchant", id="not-lowercase"),
    ],
)
@pytest.mark.parametrize("endpoint", ["returnly", "ams"])
def test_merchant_that_is_not_a_name_never_reaches_the_lookup(
    make_receiver: Callable[..., Receiver], endpoint: str, segment: str
) -> None:
    looked_up: list[str] = []

    def loader(name: str) -> Any:
        looked_up.append(name)
        raise LookupError(name)

    rx = make_receiver(merchant_loader=loader)
    body, headers = _signed(return_delivery())

    status, reply = raw_http(
        rx.url, _post_request(f"/webhooks/{endpoint}/{segment}", body, headers)
    )

    assert looked_up == []
    assert status == 400, reply
    assert b"merchant in the path is not a merchant name" in reply
    (row,) = _rejected(rx)
    assert row.error == "merchant in the path is not a merchant name"
    assert row.source == endpoint


# --- 1. headers parsed strictly --------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    [
        pytest.param(b"\xb2", id="superscript-two"),
        pytest.param(b"1" * 5000, id="5000-digits"),
        pytest.param(b"17000000000000000000", id="20-digits"),
        pytest.param(b"+1700000000", id="plus-sign"),
        pytest.param(b"1_700_000_000", id="underscores"),
    ],
)
def test_returnly_timestamp_must_be_a_few_ascii_digits(
    receiver: Receiver, timestamp: bytes
) -> None:
    body, headers = _signed(return_delivery())
    headers.pop("X-Returnly-Timestamp")
    raw_ts = b"X-Returnly-Timestamp: " + timestamp + b"\r\n"
    request = _post_request(f"/webhooks/returnly/{MERCHANT}", body, headers, raw_ts)

    status, reply = raw_http(receiver.url, request)

    assert status == 401, reply
    assert b"missing or malformed timestamp" in reply
    (row,) = _rejected(receiver)
    assert row.error == "missing or malformed timestamp"


def test_returnly_oversized_signature_header_is_refused_unread(receiver: Receiver) -> None:
    body, headers = _signed(return_delivery())
    headers["X-Returnly-Signature"] = ",".join([headers["X-Returnly-Signature"]] * 40)

    reply = post_json(receiver.returnly_url(), body, headers)

    assert (reply.status_code, reply.json()) == (401, {"error": "malformed signature header"})


# --- 1. bodies bounded in depth and number length, strict JSON ----------------------------


DEEP = b"[" * 50_000 + b"]" * 50_000


def test_returnly_deeply_nested_body_is_400(receiver: Receiver) -> None:
    body, headers = _signed(b'{"id": "d-1", "event": "return.authorized", "data": ' + DEEP + b"}")

    reply = post_json(receiver.returnly_url(), body, headers)

    assert reply.status_code == 400
    assert reply.json()["error"].startswith("JSON nested deeper than")
    assert _rejected(receiver)[0].error.startswith("JSON nested deeper than")


def test_ams_deeply_nested_body_is_400_with_the_right_token(receiver: Receiver) -> None:
    reply = post_json(receiver.ams_url(), DEEP, BEARER)

    assert reply.status_code == 400
    assert reply.json()["error"].startswith("JSON nested deeper than")


def test_ams_wrong_header_token_is_401_before_the_body_is_parsed(receiver: Receiver) -> None:
    headers = {**BEARER, "Authorization": f"Bearer {WRONG_TOKEN}"}

    reply = post_json(receiver.ams_url(), DEEP, headers)

    assert (reply.status_code, reply.json()) == (401, {"error": "wrong token (bearer)"})
    (row,) = _rejected(receiver)
    assert row.payload["envelopes"] == []  # the body was never parsed
    assert_no_secrets(dump_rows([row]))


def test_returnly_very_long_number_is_400(receiver: Receiver) -> None:
    doc = json.dumps(return_delivery()).encode()
    body, headers = _signed(doc[:-1] + b', "n": ' + b"7" * 5000 + b"}")

    reply = post_json(receiver.returnly_url(), body, headers)

    assert reply.status_code == 400
    assert reply.json()["error"].startswith("number longer than")


def test_ams_very_long_number_is_400(receiver: Receiver) -> None:
    doc = json.dumps(_envelope()).encode()
    body = doc[:-1] + b', "n": ' + b"7" * 5000 + b"}"

    reply = post_json(receiver.ams_url(), body, BEARER)

    assert reply.status_code == 400
    assert reply.json()["error"].startswith("number longer than")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_returnly_nan_and_infinity_are_not_json(receiver: Receiver, constant: str) -> None:
    doc = json.dumps(return_delivery()).encode()
    body, headers = _signed(doc[:-1] + f', "score": {constant}}}'.encode())

    reply = post_json(receiver.returnly_url(), body, headers)

    assert reply.status_code == 400
    assert reply.json()["error"] == f"{constant} is not JSON"
    assert _pending(receiver) == []


@pytest.mark.parametrize("constant", ["NaN", "Infinity"])
def test_ams_nan_and_infinity_are_not_json(receiver: Receiver, constant: str) -> None:
    body = json.dumps(_envelope()).encode()[:-1] + f', "weight": {constant}}}'.encode()

    reply = post_json(receiver.ams_url(), body, BEARER)

    assert reply.status_code == 400
    assert _pending(receiver) == []


def test_returnly_duplicate_keys_are_refused(receiver: Receiver) -> None:
    doc = json.dumps(return_delivery(delivery_id="d-2")).encode()
    body, headers = _signed(b'{"id": "d-1", ' + doc[1:])

    reply = post_json(receiver.returnly_url(), body, headers)

    assert (reply.status_code, reply.json()) == (400, {"error": "duplicate key 'id' in an object"})
    assert _pending(receiver) == []


def test_ams_duplicate_keys_are_refused(receiver: Receiver) -> None:
    body = b'{"message_id": "m-0", ' + json.dumps(_envelope())[1:].encode()

    reply = post_json(receiver.ams_url(), body, BEARER)

    assert reply.status_code == 400
    assert _pending(receiver) == []


# --- 1. text the database refuses ------------------------------------------------------------


def test_returnly_lone_surrogate_in_the_delivery_id_is_400_not_503(receiver: Receiver) -> None:
    body, headers = _signed(
        json.dumps(return_delivery(delivery_id="d-\ud800")).encode(), delivery=None
    )

    reply = post_json(receiver.returnly_url(), body, headers)

    assert reply.status_code == 400
    assert reply.json()["error"].startswith("text the ledger cannot store")
    (row,) = _rejected(receiver)
    assert row.error is not None and row.error.startswith("text the ledger cannot store")


@pytest.mark.parametrize(
    "envelope",
    [
        pytest.param(_envelope(message_id="m-\u0000"), id="nul-in-message-id"),
        pytest.param(
            _envelope(data=[{"id": "u-1", "customer_identifier": "\udfff", "event_type": "x"}]),
            id="surrogate-in-customer-identifier",
        ),
        pytest.param(
            _envelope(data=[{**_envelope()["data"][0], "note": "a\u0000b"}]),
            id="nul-in-item-text",
        ),
    ],
)
def test_ams_text_the_ledger_refuses_is_400(receiver: Receiver, envelope: dict[str, Any]) -> None:
    reply = post_json(receiver.ams_url(), json.dumps(envelope).encode(), BEARER)

    assert reply.status_code == 400
    assert reply.json()["error"].startswith("text the ledger cannot store")
    assert _pending(receiver) == []
    assert len(_rejected(receiver)) == 1


# --- 1. media type and encoding --------------------------------------------------------------


def test_returnly_gzip_body_is_415(receiver: Receiver) -> None:
    body, headers = _signed(gzip.compress(json.dumps(return_delivery()).encode()))

    reply = post_json(receiver.returnly_url(), body, {**headers, "Content-Encoding": "gzip"})

    assert (reply.status_code, reply.json()) == (
        415,
        {"error": "Content-Encoding 'gzip' is not supported (send identity)"},
    )
    assert _rejected(receiver)[0].error is not None


@pytest.mark.parametrize("endpoint", ["returnly", "ams"])
def test_wrong_content_type_is_415(receiver: Receiver, endpoint: str) -> None:
    body, headers = _signed(return_delivery())
    headers = {**(headers if endpoint == "returnly" else BEARER), "Content-Type": "text/plain"}
    if endpoint == "ams":
        body = json.dumps(_envelope()).encode()

    reply = post_json(f"{receiver.url}/webhooks/{endpoint}/{MERCHANT}", body, headers)

    assert (reply.status_code, reply.json()) == (
        415,
        {"error": "Content-Type must be application/json"},
    )
    assert _pending(receiver) == []


def test_json_content_type_with_utf8_charset_is_accepted(receiver: Receiver) -> None:
    body, headers = _signed(return_delivery())
    headers["Content-Type"] = "application/json; charset=UTF-8"

    assert post_json(receiver.returnly_url(), body, headers).status_code == 200


# --- 1. routes, docs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("POST", "/webhooks/nowhere", 404, id="unknown-path"),
        pytest.param("GET", f"/webhooks/returnly/{MERCHANT}", 405, id="get-returnly"),
        pytest.param("PUT", f"/webhooks/ams/{MERCHANT}", 405, id="put-ams"),
        pytest.param("POST", f"/webhooks/ams/{MERCHANT}/", 404, id="trailing-slash"),
    ],
)
def test_route_level_refusals_are_recorded(
    receiver: Receiver, method: str, path: str, status: int
) -> None:
    reply = httpx.request(method, f"{receiver.url}{path}", content=b"{}", timeout=10)

    assert reply.status_code == status
    assert set(reply.json()) == {"error"}
    (row,) = _rejected(receiver)
    assert row.error == reply.json()["error"]
    assert row.payload["method"] == method and row.payload["path"] == path


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
def test_no_api_docs_are_served(receiver: Receiver, path: str) -> None:
    assert httpx.get(f"{receiver.url}{path}", timeout=10).status_code == 404


# --- 1. AMS envelope count -------------------------------------------------------------------


def test_ams_more_than_30_envelopes_are_refused(receiver: Receiver) -> None:
    body = [_envelope(message_id=f"m-{n}") for n in range(31)]

    reply = post_json(receiver.ams_url(), json.dumps(body).encode(), BEARER)

    assert (reply.status_code, reply.json()) == (
        400,
        {"error": "31 envelopes: at most 30 per callback"},
    )
    assert _pending(receiver) == []


def test_ams_30_envelopes_are_accepted(receiver: Receiver) -> None:
    body = [_envelope(message_id=f"m-{n}") for n in range(30)]

    reply = post_json(receiver.ams_url(), json.dumps(body).encode(), BEARER)

    assert reply.json() == {"accepted": 30, "duplicates": 0}


# --- 1. server-side read timeouts --------------------------------------------------------------


def test_stalled_body_is_cut_with_408(make_receiver: Callable[..., Receiver]) -> None:
    rx = make_receiver(body_timeout_s=0.5)
    body, headers = _signed(return_delivery())
    request = _post_request(f"/webhooks/returnly/{MERCHANT}", body, headers)
    started = time.monotonic()

    status, reply = raw_http(rx.url, request[: -len(body) + 10], wait_s=4.0)

    took = time.monotonic() - started
    assert status == 408, reply
    assert took < 2.0
    (row,) = _rejected(rx)
    assert row.error == "body not received within 0.5 s"


def test_stalled_headers_are_cut(make_receiver: Callable[..., Receiver]) -> None:
    rx = make_receiver(header_timeout_s=0.5)
    started = time.monotonic()

    status, reply = raw_http(
        rx.url, b"POST /webhooks/returnly/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", wait_s=4.0
    )

    took = time.monotonic() - started
    assert took < 2.0, "the server kept a connection whose headers never finished"
    assert status == 408, reply


# --- 2. only signed facts count ---------------------------------------------------------------


def test_returnly_delivery_id_must_be_in_the_signed_body(receiver: Receiver) -> None:
    doc = return_delivery()
    del doc["id"]
    body = json.dumps(doc).encode()

    replies = [
        post_json(receiver.returnly_url(), body, signed_headers(body, delivery=f"d-{n}"))
        for n in range(2)
    ]

    assert [r.status_code for r in replies] == [400, 400]
    assert replies[0].json() == {"error": "missing delivery id in the signed body"}
    assert _pending(receiver) == []


def test_returnly_empty_delivery_id_in_the_body_is_not_replaced_by_the_header(
    receiver: Receiver,
) -> None:
    body = json.dumps(return_delivery(delivery_id="")).encode()

    reply = post_json(receiver.returnly_url(), body, signed_headers(body, delivery="d-7"))

    assert reply.status_code == 400
    assert _pending(receiver) == []


def test_returnly_event_must_be_in_the_signed_body(receiver: Receiver) -> None:
    doc = return_delivery()
    del doc["event"]
    body = json.dumps(doc).encode()

    reply = post_json(receiver.returnly_url(), body, signed_headers(body, event="return.cancelled"))

    assert (reply.status_code, reply.json()) == (400, {"error": "missing event in the signed body"})
    assert _pending(receiver) == []


def test_returnly_empty_event_in_the_body_is_not_replaced_by_the_header(
    receiver: Receiver,
) -> None:
    doc = {**return_delivery(), "event": ""}
    body = json.dumps(doc).encode()

    reply = post_json(receiver.returnly_url(), body, signed_headers(body, event="return.cancelled"))

    assert reply.status_code == 400
    assert _pending(receiver) == []


def test_returnly_replay_with_changed_headers_is_never_a_new_message(receiver: Receiver) -> None:
    body = json.dumps(return_delivery(delivery_id="d-1")).encode()
    first = post_json(receiver.returnly_url(), body, signed_headers(body, delivery="d-1"))

    changed = [
        post_json(receiver.returnly_url(), body, signed_headers(body, event="return.cancelled")),
        post_json(receiver.returnly_url(), body, signed_headers(body, delivery="d-2")),
        post_json(receiver.returnly_url(), body, signed_headers(body, event=None)),
    ]

    assert first.json() == {"accepted": 1, "duplicates": 0}
    assert [r.status_code for r in changed] == [400, 400, 200]
    assert changed[2].json() == {"accepted": 0, "duplicates": 1}
    assert len(_pending(receiver)) == 1


def test_returnly_event_with_a_trailing_newline_is_refused(receiver: Receiver) -> None:
    body = json.dumps({**return_delivery(), "event": "return.authorized\n"}).encode()

    reply = post_json(receiver.returnly_url(), body, signed_headers(body, event=None))

    assert reply.status_code == 400
    assert _pending(receiver) == []


@pytest.mark.parametrize("return_id", ["", " ", "10\n01"])
def test_returnly_blank_or_broken_return_id_is_refused(receiver: Receiver, return_id: str) -> None:
    body = json.dumps(return_delivery(return_id=return_id)).encode()

    reply = post_json(receiver.returnly_url(), body, signed_headers(body))

    assert reply.status_code == 400
    assert _pending(receiver) == []


@pytest.mark.parametrize(
    "envelope",
    [
        pytest.param(_envelope(message_id=""), id="empty-message-id"),
        pytest.param(_envelope(message_id="   "), id="blank-message-id"),
        pytest.param(
            _envelope(data=[{"id": "u-1", "customer_identifier": CID, "event_type": "tendered\n"}]),
            id="event-with-newline",
        ),
        pytest.param(
            _envelope(data=[{"id": "u-1", "customer_identifier": " ", "event_type": "tendered"}]),
            id="blank-customer-identifier",
        ),
    ],
)
def test_ams_blank_or_broken_facts_are_refused(
    receiver: Receiver, envelope: dict[str, Any]
) -> None:
    reply = post_json(receiver.ams_url(), json.dumps(envelope).encode(), BEARER)

    assert reply.status_code == 400
    assert _pending(receiver) == []


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data and (chunk := sock.recv(65536)):
        data += chunk
    return data


def test_stalled_headers_on_a_kept_alive_connection_are_cut(
    make_receiver: Callable[..., Receiver],
) -> None:
    rx = make_receiver(header_timeout_s=0.5)
    parts = urlsplit(rx.url)
    healthz = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=4.0) as sock:
        sock.sendall(healthz)
        first = _read_until(sock, b'{"status":"ok"}')
        time.sleep(0.8)  # idle between requests is keep-alive's business, not a deadline's
        sock.sendall(healthz)
        second = _read_until(sock, b'{"status":"ok"}')
        started = time.monotonic()
        sock.sendall(b"POST /webhooks/ams/x HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        third = _read_until(sock, b"\x00never")
        took = time.monotonic() - started

    assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200")
    assert third.startswith(b"HTTP/1.1 408"), third
    assert 0.4 < took < 2.0
