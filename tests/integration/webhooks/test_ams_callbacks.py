"""AMS rmaEvent callbacks into the receiver: from the real sandbox, in every token form."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from clients.ams import AmsClient, CallbackCreate
from tests.integration.ams.factories import line, rma
from tests.integration.webhooks.support import (
    CALLBACK_TOKEN,
    MERCHANT,
    WRONG_TOKEN,
    Receiver,
    assert_no_secrets,
    dump_rows,
    inbox_rows,
    payload,
    post_json,
    wait_until,
)

pytestmark = pytest.mark.integration

CID = "RLY-4242"
FORMS = ["bearer", "raw_header", "body"]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every log record (any thread) so secrets can be searched for."""
    caplog.set_level(logging.DEBUG)
    yield caplog


@pytest.fixture
def rma_in_ams(ams: AmsClient) -> str:
    """An open RMA in the sandbox; answers its AMS id."""
    ams.create_rmas([rma(CID, line("TEE-WHITE-S", 2))]).raise_for_failures()
    found = ams.get_rma_by_cid(CID)
    assert found is not None and found.id is not None
    return found.id


def _register(
    ams: AmsClient, url: str, token: str | None, versions: tuple[str, ...] = ("1.0", "2.0")
) -> None:
    ams.register_callbacks(
        [
            CallbackCreate(
                url=f"{url}?v={v}",  # one callback per URL and type, so the URLs differ
                message_type="rmaEvent",
                api_version="2.0" if v == "2.0" else "1.0",
                token=token,
            )
            for v in versions
        ]
    )


def _deliveries(ams_admin: httpx.Client) -> list[dict[str, Any]]:
    reply = ams_admin.post("/_admin/deliveries/flush", params={"timeout_s": 20})
    reply.raise_for_status()
    assert reply.json()["drained"]
    log: list[dict[str, Any]] = ams_admin.get("/_admin/deliveries").json()["deliveries"]
    return log


def _settings(ams_admin: httpx.Client, **settings: Any) -> None:
    ams_admin.put("/_admin/settings", json=settings).raise_for_status()


@pytest.mark.parametrize("form", FORMS)
def test_ams_callbacks_in_each_token_form_are_stored_without_the_token(
    ams: AmsClient,
    ams_admin: httpx.Client,
    receiver: Receiver,
    rma_in_ams: str,
    logs: pytest.LogCaptureFixture,
    form: str,
) -> None:
    _settings(ams_admin, token_delivery=form)
    _register(ams, receiver.ams_url(), CALLBACK_TOKEN)

    ams.trigger_rma_event(CID, "tendered").raise_for_failures()
    log = _deliveries(ams_admin)

    assert [(d["status_code"], d["token_delivery"]) for d in log] == [(200, form), (200, form)]
    rows = inbox_rows(receiver.ledger)
    assert {r.message_id for r in rows} == {f"{d['message_id']}:0" for d in log}
    assert {(r.source, r.merchant, r.kind, r.subject_id) for r in rows} == {
        ("ams", MERCHANT, "tendered", CID)
    }
    assert {payload(r)["rma_id"] for r in rows} == {rma_in_ams}
    assert {payload(r)["api_version"] for r in rows} == {"1.0", "2.0"}
    stored = dump_rows(rows)
    assert '"token"' not in stored
    receiver.dispatcher.wait_for(2)
    wait_until(lambda: {r.status for r in inbox_rows(receiver.ledger)} == {"emitted"})
    assert f"authenticated by its {form} token" in logs.text
    assert_no_secrets(logs.text, stored)


def test_ams_received_event_keeps_the_receipt_in_the_payload(
    ams: AmsClient, ams_admin: httpx.Client, receiver: Receiver, rma_in_ams: str
) -> None:
    _settings(ams_admin, token_delivery="body")
    _register(ams, receiver.ams_url(), CALLBACK_TOKEN, versions=("2.0",))

    ams.trigger_rma_event(CID, "receiveFull").raise_for_failures()
    _deliveries(ams_admin)

    (row,) = inbox_rows(receiver.ledger)
    assert (row.kind, payload(row)["event"], payload(row)["rma_id"]) == (
        "received",
        "received",
        rma_in_ams,
    )
    details = payload(row)["item"]["details"]
    assert details["line_items"][0]["quantity_received"] == 2
    assert CALLBACK_TOKEN not in dump_rows([row])


@pytest.mark.parametrize("form", FORMS)
def test_ams_wrong_token_is_rejected_and_recorded_without_tokens(
    ams: AmsClient,
    ams_admin: httpx.Client,
    receiver: Receiver,
    rma_in_ams: str,
    logs: pytest.LogCaptureFixture,
    form: str,
) -> None:
    _settings(ams_admin, token_delivery=form)
    _register(ams, receiver.ams_url(), WRONG_TOKEN, versions=("2.0",))

    ams.trigger_rma_event(CID, "tendered").raise_for_failures()
    log = _deliveries(ams_admin)

    assert [d["status_code"] for d in log] == [401, 401]
    rows = inbox_rows(receiver.ledger)
    assert len(rows) == 2
    assert {(r.status, r.error) for r in rows} == {("rejected", f"wrong token ({form})")}
    assert payload(rows[0])["token_form"] == form
    if form == "body":  # the token is found by parsing the body, so its ids are known
        assert {r.claimed_message_id for r in rows} == {log[0]["message_id"]}
        assert payload(rows[0])["envelopes"] == [
            {
                "message_type": "rmaEvent",
                "message_id": log[0]["message_id"],
                "api_version": "2.0",
                "items": 1,
            }
        ]
    else:  # a wrong header token is refused before the body is parsed
        assert {r.claimed_message_id for r in rows} == {None}
        assert payload(rows[0])["envelopes"] == []
    assert receiver.dispatcher.calls == []
    assert_no_secrets(logs.text, dump_rows(rows))


def test_ams_callback_without_token_is_401(
    ams: AmsClient, ams_admin: httpx.Client, receiver: Receiver, rma_in_ams: str
) -> None:
    _register(ams, receiver.ams_url(), None, versions=("2.0",))

    ams.trigger_rma_event(CID, "tendered").raise_for_failures()
    log = _deliveries(ams_admin)

    assert {d["status_code"] for d in log} == {401}
    assert {r.error for r in inbox_rows(receiver.ledger)} == {"missing token"}


def test_ams_array_envelope_is_accepted(
    ams: AmsClient, ams_admin: httpx.Client, receiver: Receiver, rma_in_ams: str
) -> None:
    _settings(ams_admin, envelope_as_array=True, token_delivery="body")
    _register(ams, receiver.ams_url(), CALLBACK_TOKEN)

    ams.trigger_rma_event(CID, "inTransit").raise_for_failures()
    log = _deliveries(ams_admin)

    assert [d["status_code"] for d in log] == [200, 200]
    rows = inbox_rows(receiver.ledger)
    assert sorted(r.kind for r in rows) == ["inTransit", "inTransit"]
    assert CALLBACK_TOKEN not in dump_rows(rows)


def test_ams_duplicate_callbacks_store_and_dispatch_once(
    ams: AmsClient, ams_admin: httpx.Client, receiver: Receiver, rma_in_ams: str
) -> None:
    ams_admin.put("/_admin/faults", json={"duplicate_rate": 1.0}).raise_for_status()
    _register(ams, receiver.ams_url(), CALLBACK_TOKEN, versions=("2.0",))

    ams.trigger_rma_event(CID, "delivered").raise_for_failures()
    log = _deliveries(ams_admin)

    assert [d["status_code"] for d in log] == [200, 200]
    assert log[0]["message_id"] == log[1]["message_id"]
    assert len(inbox_rows(receiver.ledger)) == 1
    receiver.dispatcher.wait_for(1)
    assert len(receiver.dispatcher.calls) == 1


def _envelope(**overrides: Any) -> dict[str, Any]:
    return {
        "message_type": "rmaEvent",
        "message_id": "m-1",
        "api_version": "2.0",
        "data": [{"id": "u-1", "customer_identifier": CID, "event_type": "tendered", "as_of": ""}],
        **overrides,
    }


BEARER = {"Authorization": f"Bearer {CALLBACK_TOKEN}", "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [
        pytest.param(b"{nope", BEARER, 400, "body is not valid JSON", id="malformed-with-token"),
        pytest.param(b"{nope", {}, 401, "missing token", id="malformed-without-token"),
        pytest.param(
            json.dumps(_envelope(message_type="orderEvent")).encode(),
            BEARER,
            400,
            "[0]: message_type must be 'rmaEvent'",
            id="other-message-type",
        ),
        pytest.param(b"[]", BEARER, 400, "empty array: no rmaEvent envelope", id="empty-array"),
        pytest.param(
            json.dumps(_envelope(message_id=None)).encode(),
            BEARER,
            400,
            "[0] not an rmaEvent: message_id",
            id="no-message-id",
        ),
        pytest.param(
            json.dumps([_envelope(token=CALLBACK_TOKEN), _envelope(token=WRONG_TOKEN)]).encode(),
            {},
            401,
            "missing token",
            id="array-tokens-disagree",
        ),
    ],
)
def test_ams_bad_request_is_refused_and_recorded(
    receiver: Receiver, body: bytes, headers: dict[str, str], status: int, error: str
) -> None:
    reply = post_json(receiver.ams_url(), body, headers)

    assert reply.status_code == status
    assert reply.json()["error"].startswith(error)
    (row,) = inbox_rows(receiver.ledger)
    assert row.status == "rejected" and row.error is not None and row.error.startswith(error)
    assert_no_secrets(dump_rows([row]))


def test_ams_item_without_customer_identifier_is_ignored(receiver: Receiver) -> None:
    body = _envelope(data=[{"id": "u-9", "event_type": "tendered"}])

    reply = post_json(receiver.ams_url(), json.dumps(body).encode(), BEARER)

    assert reply.json() == {"accepted": 0, "duplicates": 0, "ignored": 1}
    assert inbox_rows(receiver.ledger) == []


def test_ams_unknown_merchant_is_404_and_recorded(receiver: Receiver) -> None:
    reply = post_json(receiver.ams_url("other-shop"), json.dumps(_envelope()).encode(), BEARER)

    assert reply.status_code == 404
    (row,) = inbox_rows(receiver.ledger)
    assert (row.source, row.merchant, row.status) == ("ams", "other-shop", "rejected")


def test_ams_body_over_limit_is_413(make_receiver: Callable[..., Receiver]) -> None:
    rx = make_receiver(max_body_bytes=100)

    reply = post_json(rx.ams_url(), json.dumps(_envelope()).encode(), BEARER)

    assert reply.status_code == 413
    assert inbox_rows(rx.ledger)[0].status == "rejected"
