"""DataFactory events against the AMS sandbox and the rmaEvent callbacks they deliver."""

from __future__ import annotations

import uuid

import httpx
import pytest

from clients.ams import AmsClient, AmsValidationError, RmaLine, parse_rma_event
from tests.integration.ams.factories import line, rma
from tests.integration.ams.receiver import CallbackReceiver
from tests.integration.ams.support import (
    API,
    AUTH,
    CALLBACK_TOKEN,
    flush,
    register_rma_callbacks,
    set_faults,
    set_settings,
)

EVENTS = [
    # (DataFactory event, RMA status after it, v2.0 event name)
    ("receiveFull", "received", "received"),
    ("receivePartial", "received", "received"),
    ("receiveUnexpected", "received", "received"),
    ("receivingStarted", "in-receiving", "receivingStarted"),
    ("tendered", "tendered", "tendered"),
    ("inTransit", "inTransit", "inTransit"),
    ("delivered", "delivered", "delivered"),
    ("undeliverable", "undeliverable", "undeliverable"),
]


@pytest.fixture
def hooked(ams: AmsClient, receiver: CallbackReceiver) -> AmsClient:
    """A client whose account has one v1.0 and one v2.0 rmaEvent callback (with a token)."""
    register_rma_callbacks(ams, receiver.url)
    return ams


@pytest.mark.parametrize(("event", "status", "v2_name"), EVENTS, ids=[e[0] for e in EVENTS])
def test_event_changes_rma_and_delivers_callbacks(
    hooked: AmsClient,
    admin: httpx.Client,
    receiver: CallbackReceiver,
    event: str,
    status: str,
    v2_name: str,
) -> None:
    hooked.create_rmas([rma("RLY-8001", line("TEE-WHITE-S", 2))]).raise_for_failures()

    hooked.trigger_rma_event("RLY-8001", event).raise_for_failures()  # type: ignore[arg-type]
    flush(admin)

    current = hooked.get_rma_by_cid("RLY-8001")
    assert current is not None and current.status == status
    by_version = {c.path: c for c in receiver.calls}
    assert set(by_version) == {"rma/v1.0", "rma/v2.0"}
    for path, expected_name in (("rma/v1.0", status), ("rma/v2.0", v2_name)):
        call = by_version[path]
        assert call.headers["authorization"] == f"Bearer {CALLBACK_TOKEN}"
        assert call.body["message_type"] == "rmaEvent"
        uuid.UUID(call.body["message_id"])
        (msg,) = parse_rma_event(call.body)
        assert (msg.event, msg.customer_identifier, msg.rma_id) == (
            expected_name,
            "RLY-8001",
            current.id,
        )
        assert msg.api_version == path.removeprefix("rma/v")
        if path == "rma/v1.0" or status == "received":
            assert msg.rma is not None and msg.rma.status == status
        else:
            assert msg.rma is None and msg.as_of is not None
    assert receiver.calls[0].body["message_id"] != receiver.calls[1].body["message_id"]


def _received(hooked: AmsClient, receiver: CallbackReceiver, admin: httpx.Client) -> list[RmaLine]:
    """Lines of the RMA the last v1.0 callback carried, checked against a fresh GET."""
    flush(admin)
    v1 = [c for c in receiver.calls if c.path == "rma/v1.0"]
    (msg,) = parse_rma_event(v1[-1].body)
    assert msg.rma is not None
    fresh = hooked.get_rma_by_cid(msg.customer_identifier or "")
    assert fresh is not None
    assert fresh.line_items == msg.rma.line_items, "callback and GET agree"
    return fresh.line_items


def test_receive_full_receives_every_unit_into_requested_status(
    hooked: AmsClient, admin: httpx.Client, receiver: CallbackReceiver
) -> None:
    lines = [line("TEE-BLACK-M", 2), line("CAP-RUST-S", 1, return_inventory_status="available")]
    hooked.create_rmas([rma("RLY-8101", *lines)]).raise_for_failures()

    hooked.trigger_rma_event("RLY-8101", "receiveFull")
    received = _received(hooked, receiver, admin)

    assert [(li.quantity_received, li.received_by_status()) for li in received] == [
        (2, {"qc": 2}),
        (1, {"available": 1}),
    ]
    assert not any(li.not_on_original_rma for li in received)


def test_receive_partial_leaves_a_line_short(
    hooked: AmsClient, admin: httpx.Client, receiver: CallbackReceiver
) -> None:
    lines = [line("TEE-BLACK-M", 3), line("CAP-RUST-S", 1), line("JKT-OLIVE-XL", 2)]
    hooked.create_rmas([rma("RLY-8201", *lines)]).raise_for_failures()

    hooked.trigger_rma_event("RLY-8201", "receivePartial")
    received = _received(hooked, receiver, admin)

    got = [li.quantity_received or 0 for li in received]
    assert all(0 <= g <= li.quantity for g, li in zip(got, received, strict=True))
    assert sum(got) < 6
    assert [sum(li.received_by_status().values()) for li in received] == got


def test_receive_unexpected_adds_line_not_on_rma(
    hooked: AmsClient, admin: httpx.Client, receiver: CallbackReceiver
) -> None:
    hooked.create_rmas([rma("RLY-8301", line("SOCK-NAVY-S", 1))]).raise_for_failures()

    hooked.trigger_rma_event("RLY-8301", "receiveUnexpected")
    received = _received(hooked, receiver, admin)

    original, extra = received
    assert (original.quantity_received, original.not_on_original_rma) == (1, False)
    assert extra.not_on_original_rma and extra.quantity_received == 1
    assert extra.customer_sku_id not in (None, "SOCK-NAVY-S")


def test_randomize_inventory_statuses_spreads_units(
    hooked: AmsClient, admin: httpx.Client, receiver: CallbackReceiver
) -> None:
    hooked.create_rmas([rma("RLY-8401", line("HOOD-RUST-L", 30))]).raise_for_failures()

    hooked.trigger_rma_event("RLY-8401", "receiveFull", randomize_inventory_statuses=True)
    (received,) = _received(hooked, receiver, admin)

    spread = received.received_by_status()
    assert len(spread) > 1 and sum(spread.values()) == 30
    assert set(spread) <= {
        "available",
        "quality-control",
        "damaged",
        "under-investigation",
        "refurbishing",
        "quarantine",
    }


def test_same_seed_gives_same_partial_receipt(
    ams: AmsClient, admin: httpx.Client, receiver: CallbackReceiver
) -> None:
    outcomes = []
    for _ in range(2):
        admin.post("/_admin/reset").raise_for_status()
        register_rma_callbacks(ams, receiver.url, versions=("2.0",))
        lines = [line("TEE-BLACK-M", 5), line("CAP-RUST-S", 4)]
        ams.create_rmas([rma("RLY-8501", *lines)]).raise_for_failures()
        ams.trigger_rma_event("RLY-8501", "receivePartial", randomize_inventory_statuses=True)
        got = ams.get_rma_by_cid("RLY-8501")
        assert got is not None
        outcomes.append([(li.quantity_received, li.received_by_status()) for li in got.line_items])
    assert outcomes[0] == outcomes[1]


def test_event_without_registered_callback_is_refused(ams: AmsClient) -> None:
    ams.create_rmas([rma("RLY-8601")]).raise_for_failures()
    with pytest.raises(AmsValidationError, match="no rmaEvent callback"):
        ams.trigger_rma_event("RLY-8601", "tendered")


def test_event_on_unknown_or_received_rma_fails_per_record(hooked: AmsClient) -> None:
    hooked.create_rmas([rma("RLY-8701")]).raise_for_failures()
    hooked.trigger_rma_event("RLY-8701", "receiveFull").raise_for_failures()

    assert not hooked.trigger_rma_event("RLY-8799", "tendered").results[0].ok
    again = hooked.trigger_rma_event("RLY-8701", "tendered")
    assert "no longer act" in again.results[0].messages[0].text


@pytest.mark.parametrize("form", ["bearer", "raw_header", "body"])
def test_callback_token_delivery_forms(
    hooked: AmsClient, admin: httpx.Client, receiver: CallbackReceiver, form: str
) -> None:
    set_settings(admin, token_delivery=form)
    hooked.create_rmas([rma("RLY-8801")]).raise_for_failures()

    hooked.trigger_rma_event("RLY-8801", "tendered")
    flush(admin)

    assert len(receiver.calls) == 2
    for call in receiver.calls:
        auth = call.headers.get("authorization")
        expected = {
            "bearer": (f"Bearer {CALLBACK_TOKEN}", None),
            "raw_header": (CALLBACK_TOKEN, None),
            "body": (None, CALLBACK_TOKEN),
        }[form]
        assert (auth, call.body.get("token")) == expected
        assert parse_rma_event(call.body)[0].event in ("tendered",)


def test_envelope_as_array_setting(
    hooked: AmsClient, admin: httpx.Client, receiver: CallbackReceiver
) -> None:
    set_settings(admin, envelope_as_array=True)
    hooked.create_rmas([rma("RLY-8901")]).raise_for_failures()

    hooked.trigger_rma_event("RLY-8901", "delivered")
    flush(admin)

    assert all(isinstance(c.body, list) and len(c.body) == 1 for c in receiver.calls)
    assert {parse_rma_event(c.body)[0].event for c in receiver.calls} == {"delivered"}


def test_duplicate_deliveries_keep_message_id(
    ams: AmsClient, admin: httpx.Client, receiver: CallbackReceiver
) -> None:
    register_rma_callbacks(ams, receiver.url, versions=("2.0",))
    ams.create_rmas([rma("RLY-9001"), rma("RLY-9002")]).raise_for_failures()
    set_faults(admin, duplicate_rate=1.0)

    ams.trigger_rma_event("RLY-9001", "tendered")
    ams.trigger_rma_event("RLY-9002", "inTransit")
    flush(admin)

    ids = [c.body["message_id"] for c in receiver.calls]
    assert len(ids) == 4 and len(set(ids)) == 2
    keys = {m.dedupe_key for c in receiver.calls for m in parse_rma_event(c.body)}
    assert len(keys) == 2


def test_reordered_deliveries_when_asked(
    ams: AmsClient, admin: httpx.Client, receiver: CallbackReceiver
) -> None:
    register_rma_callbacks(ams, receiver.url, versions=("2.0",))
    cids = [f"RLY-91{i:02d}" for i in range(8)]
    ams.create_rmas([rma(c) for c in cids]).raise_for_failures()
    set_faults(admin, reorder=True, seed=3)
    hold = [{"message_type": "rmaEvent"}]
    admin.post(f"{API}/callback_holds", json=hold, headers=AUTH).raise_for_status()

    for cid in cids:
        ams.trigger_rma_event(cid, "tendered")
    flush(admin)
    assert receiver.calls == [], "held messages wait for the release"
    admin.request("DELETE", f"{API}/callback_holds", json=hold, headers=AUTH).raise_for_status()
    flush(admin)

    order = [str(parse_rma_event(c.body)[0].customer_identifier) for c in receiver.calls]
    assert sorted(order) == cids
    assert order != cids


def test_failed_delivery_retried_until_acknowledged(
    ams: AmsClient, admin: httpx.Client, receiver: CallbackReceiver
) -> None:
    register_rma_callbacks(ams, receiver.url, versions=("1.0",))
    ams.create_rmas([rma("RLY-9201")]).raise_for_failures()
    set_settings(admin, retry_base_s=0.01)
    receiver.fail_next(2)

    ams.trigger_rma_event("RLY-9201", "receiveFull")
    flush(admin)

    assert len(receiver.calls) == 3
    assert len({c.body["message_id"] for c in receiver.calls}) == 1
    log = admin.get("/_admin/deliveries").json()["deliveries"]
    assert [(e["attempt"], e["delivered"]) for e in log] == [(1, False), (2, False), (3, True)]


def test_delivery_gives_up_after_max_attempts(
    ams: AmsClient, admin: httpx.Client, receiver: CallbackReceiver
) -> None:
    register_rma_callbacks(ams, receiver.url, versions=("2.0",))
    ams.create_rmas([rma("RLY-9301")]).raise_for_failures()
    set_settings(admin, max_attempts=2, retry_base_s=0)
    receiver.fail_next(5)

    ams.trigger_rma_event("RLY-9301", "tendered")
    flush(admin)

    log = admin.get("/_admin/deliveries").json()["deliveries"]
    assert len(log) == 2 and log[-1]["gave_up"]


def test_set_status_with_notify_sends_event(
    ams: AmsClient, admin: httpx.Client, receiver: CallbackReceiver
) -> None:
    register_rma_callbacks(ams, receiver.url, versions=("2.0",))
    ams.create_rmas([rma("RLY-9401")]).raise_for_failures()

    reply = admin.post(
        "/_admin/rmas/RLY-9401/status", json={"status": "undeliverable", "notify": True}
    )
    flush(admin)

    assert reply.json()["status"] == "undeliverable"
    (call,) = receiver.calls
    assert parse_rma_event(call.body)[0].event == "undeliverable"
