"""Returnly deliveries into the receiver: from the real sandbox, and hand-made edge cases."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from clients.returnly import ReturnlyClient
from ledger import Ledger
from tests.integration.webhooks.support import (
    MERCHANT,
    WEBHOOK_SECRET,
    WRONG_SECRET,
    Receiver,
    assert_no_secrets,
    dump_rows,
    inbox_rows,
    payload,
    post_json,
    return_delivery,
    signed_headers,
    wait_until,
)
from tests.support.dispatch import DispatchCall

pytestmark = pytest.mark.integration


def _authorize_one(returnly_admin: httpx.Client) -> str:
    """Plant a requested return and authorize it: the sandbox queues return.authorized."""
    planted = returnly_admin.post("/_admin/returns", json={"status": "requested"})
    planted.raise_for_status()
    return_id: str = planted.json()["id"]
    returnly_admin.post(
        f"/_admin/returns/{return_id}/status", json={"status": "authorize"}
    ).raise_for_status()
    return return_id


def _flush(returnly_admin: httpx.Client) -> list[dict[str, Any]]:
    """Deliver everything queued; the attempts the sandbox made (with our status codes)."""
    returnly_admin.post("/_admin/deliveries/flush", json={"timeout_s": 20}).raise_for_status()
    attempts: list[dict[str, Any]] = returnly_admin.get("/_admin/deliveries").json()["attempts"]
    return attempts


@pytest.fixture
def subscribed(returnly: ReturnlyClient, receiver: Receiver) -> Callable[..., None]:
    """Subscribe the receiver to return.authorized with a given secret."""

    def subscribe(secret: str = WEBHOOK_SECRET, merchant: str = MERCHANT) -> None:
        returnly.create_webhook(receiver.returnly_url(merchant), "return.authorized", secret)

    return subscribe


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every log record (any thread) so secrets can be searched for."""
    caplog.set_level(logging.DEBUG)
    yield caplog


def test_returnly_delivery_from_sandbox_is_stored_and_dispatched_once(
    subscribed: Callable[..., None],
    returnly_admin: httpx.Client,
    receiver: Receiver,
    logs: pytest.LogCaptureFixture,
) -> None:
    subscribed()
    return_id = _authorize_one(returnly_admin)

    attempts = _flush(returnly_admin)

    assert [a["status_code"] for a in attempts] == [200]
    delivery_id = attempts[0]["delivery_id"]
    (row,) = inbox_rows(receiver.ledger)
    assert (row.source, row.message_id, row.merchant) == ("returnly", delivery_id, MERCHANT)
    assert (row.kind, row.subject_id) == ("return.authorized", return_id)
    assert payload(row)["return_id"] == return_id
    assert payload(row)["status"] == "authorized"
    assert payload(row)["hint_key"].startswith(f"return.authorized:{return_id}:")
    calls = receiver.dispatcher.wait_for(1)
    assert calls == [
        DispatchCall(MERCHANT, "returnly", delivery_id, "return.authorized", return_id)
    ]
    wait_until(lambda: inbox_rows(receiver.ledger)[0].status == "emitted")
    assert f"stored returnly return.authorized {return_id}" in logs.text  # logs are captured
    assert_no_secrets(logs.text, dump_rows(inbox_rows(receiver.ledger)))


def test_returnly_duplicate_deliveries_store_and_dispatch_once(
    subscribed: Callable[..., None], returnly_admin: httpx.Client, receiver: Receiver
) -> None:
    returnly_admin.put("/_admin/faults", json={"duplicate_rate": 1.0}).raise_for_status()
    subscribed()
    _authorize_one(returnly_admin)

    attempts = _flush(returnly_admin)

    assert [a["status_code"] for a in attempts] == [200, 200]
    assert attempts[0]["delivery_id"] == attempts[1]["delivery_id"]
    assert len(inbox_rows(receiver.ledger)) == 1
    receiver.dispatcher.wait_for(1)
    assert len(receiver.dispatcher.calls) == 1


def test_returnly_wrong_secret_is_rejected_and_recorded(
    subscribed: Callable[..., None],
    returnly_admin: httpx.Client,
    receiver: Receiver,
    logs: pytest.LogCaptureFixture,
) -> None:
    subscribed(secret=WRONG_SECRET)
    _authorize_one(returnly_admin)

    attempts = _flush(returnly_admin)

    assert [a["status_code"] for a in attempts] == [401, 401]  # the sandbox retried once
    rows = inbox_rows(receiver.ledger)
    assert {r.status for r in rows} == {"rejected"}
    assert len(rows) == 2
    assert {r.error for r in rows} == {"signature mismatch"}
    assert {r.claimed_message_id for r in rows} == {attempts[0]["delivery_id"]}
    assert {(r.merchant, r.kind) for r in rows} == {(MERCHANT, "return.authorized")}
    stored = dump_rows(rows)
    assert "sha256=" not in stored and 'signature":' not in stored
    assert receiver.dispatcher.calls == []
    assert "signature mismatch" in logs.text
    assert_no_secrets(logs.text, stored)


def test_returnly_stale_timestamp_is_rejected(receiver: Receiver) -> None:
    body = json.dumps(return_delivery()).encode()
    old = int(time.time()) - 301

    reply = post_json(receiver.returnly_url(), body, signed_headers(body, timestamp=old))

    assert reply.status_code == 401
    assert reply.json() == {"error": "stale timestamp"}
    (row,) = inbox_rows(receiver.ledger)
    assert (row.status, row.error) == ("rejected", "stale timestamp")


def test_returnly_timestamp_within_tolerance_is_accepted(
    make_receiver: Callable[..., Receiver],
) -> None:
    rx = make_receiver(clock=lambda: 1_000_000.0, signature_tolerance_s=60)
    body = json.dumps(return_delivery()).encode()

    fresh = post_json(rx.returnly_url(), body, signed_headers(body, timestamp=1_000_000 - 60))
    future = post_json(rx.returnly_url(), body, signed_headers(body, timestamp=1_000_061))

    assert fresh.status_code == 200 and future.status_code == 401


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        pytest.param(
            {"X-Returnly-Timestamp": str(int(time.time()))}, "missing signature", id="no-signature"
        ),
        pytest.param(
            {"X-Returnly-Signature": "sha256=00"},
            "missing or malformed timestamp",
            id="no-timestamp",
        ),
    ],
)
def test_returnly_missing_auth_headers_is_401(
    receiver: Receiver, headers: dict[str, str], reason: str
) -> None:
    body = json.dumps(return_delivery()).encode()

    reply = post_json(
        receiver.returnly_url(), body, {"Content-Type": "application/json", **headers}
    )

    assert (reply.status_code, reply.json()["error"]) == (401, reason)


def test_returnly_bare_hex_signature_is_accepted(receiver: Receiver) -> None:
    body = json.dumps(return_delivery()).encode()

    reply = post_json(receiver.returnly_url(), body, signed_headers(body, prefix=""))

    assert reply.status_code == 200
    assert reply.json() == {"accepted": 1, "duplicates": 0}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"{not json", "body is not valid JSON", id="malformed-json"),
        pytest.param(b"[1, 2]", "body is not a JSON object", id="not-an-object"),
        pytest.param(
            json.dumps({"id": "d-1", "event": "return.authorized"}).encode(),
            "data must be the JSON:API document of the return",
            id="no-data",
        ),
        pytest.param(
            json.dumps({"id": "d-1", "event": "return.authorized", "data": {"data": {}}}).encode(),
            "data is not a return document",
            id="no-return-id",
        ),
        pytest.param(
            json.dumps({**return_delivery(), "event": "Return Authorized!"}).encode(),
            "event must look like 'return.authorized'",
            id="bad-event",
        ),
    ],
)
def test_returnly_malformed_body_is_400(receiver: Receiver, body: bytes, reason: str) -> None:
    reply = post_json(receiver.returnly_url(), body, signed_headers(body, event=None))

    assert reply.status_code == 400
    assert reply.json()["error"].startswith(reason)
    (row,) = inbox_rows(receiver.ledger)
    assert row.status == "rejected" and row.error is not None and row.error.startswith(reason)
    assert receiver.dispatcher.calls == []


def test_returnly_header_and_body_delivery_ids_must_agree(receiver: Receiver) -> None:
    body = json.dumps(return_delivery(delivery_id="d-1")).encode()

    reply = post_json(receiver.returnly_url(), body, signed_headers(body, delivery="d-2"))

    assert reply.status_code == 400
    assert "disagree" in reply.json()["error"]


def test_returnly_event_not_about_a_return_is_ignored(receiver: Receiver) -> None:
    body = json.dumps({"id": "d-9", "event": "credit.issued", "data": {}}).encode()

    reply = post_json(receiver.returnly_url(), body, signed_headers(body, event="credit.issued"))

    assert reply.json() == {"accepted": 0, "duplicates": 0, "ignored": 1}
    assert inbox_rows(receiver.ledger) == []


def test_returnly_unknown_merchant_is_404_and_recorded(receiver: Receiver) -> None:
    body = json.dumps(return_delivery()).encode()

    reply = post_json(
        receiver.returnly_url("no-such-shop"), body, signed_headers(body, delivery="d-1")
    )

    assert reply.status_code == 404
    assert reply.json() == {"error": "unknown merchant"}
    (row,) = inbox_rows(receiver.ledger)
    assert (row.status, row.merchant, row.claimed_message_id) == ("rejected", "no-such-shop", "d-1")


def test_returnly_body_over_limit_is_413_by_content_length(
    make_receiver: Callable[..., Receiver],
) -> None:
    rx = make_receiver(max_body_bytes=2048)
    body = b"x" * 4096

    reply = post_json(rx.returnly_url(), body, signed_headers(body))

    assert reply.status_code == 413
    (row,) = inbox_rows(rx.ledger)
    assert row.status == "rejected" and row.error == "body of 4096 bytes exceeds 2048"


def test_returnly_chunked_body_over_limit_is_413_while_streaming(
    make_receiver: Callable[..., Receiver],
) -> None:
    rx = make_receiver(max_body_bytes=2048)
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            sent.append(512)
            yield b"x" * 512

    reply = httpx.post(rx.returnly_url(), content=chunks(), headers=signed_headers(b""), timeout=10)

    assert reply.status_code == 413
    assert reply.json() == {"error": "body exceeds 2048 bytes"}
    (row,) = inbox_rows(rx.ledger)
    assert payload(row)["content_length"] is None  # chunked: no declared length


def test_returnly_body_at_limit_is_read(make_receiver: Callable[..., Receiver]) -> None:
    body = json.dumps(return_delivery()).encode()
    rx = make_receiver(max_body_bytes=len(body))

    reply = post_json(rx.returnly_url(), body, signed_headers(body))

    assert reply.status_code == 200


def test_returnly_resent_delivery_is_acknowledged_without_redispatch(receiver: Receiver) -> None:
    body = json.dumps(return_delivery(delivery_id=str(uuid.uuid4()))).encode()

    first = post_json(receiver.returnly_url(), body, signed_headers(body))
    again = post_json(receiver.returnly_url(), body, signed_headers(body))

    assert first.json() == {"accepted": 1, "duplicates": 0}
    assert again.json() == {"accepted": 0, "duplicates": 1}
    receiver.dispatcher.wait_for(1)
    assert len(receiver.dispatcher.calls) == 1


def test_healthz(receiver: Receiver) -> None:
    assert httpx.get(f"{receiver.url}/healthz").json() == {"status": "ok"}


def test_returnly_inbox_outage_is_503_so_the_sender_retries(
    make_receiver: Callable[..., Receiver],
) -> None:
    def broken() -> Ledger:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    rx = make_receiver(ledger_factory=broken)
    body = json.dumps(return_delivery()).encode()

    accepted = post_json(rx.returnly_url(), body, signed_headers(body))
    refused = post_json(rx.returnly_url(), body, signed_headers(body, secret=WRONG_SECRET))

    assert (accepted.status_code, accepted.json()) == (503, {"error": "inbox unavailable"})
    assert refused.status_code == 401  # the rejection is logged even if it cannot be stored
    assert rx.dispatcher.calls == []
