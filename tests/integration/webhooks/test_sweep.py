"""Dispatch failures leave messages in the inbox; the sweeper hands them over again."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from ledger import MAX_INBOX_ATTEMPTS, InboxMessage, InboxStatus, Ledger
from sandbox.server import ThreadedServer, free_port, serve_in_thread
from tasks.sweep import sweep_once
from tests.integration.webhooks.prefect_stub import EventsStub
from tests.integration.webhooks.support import (
    MERCHANT,
    Receiver,
    inbox_rows,
    post_json,
    return_delivery,
    signed_headers,
    wait_until,
)
from tests.support.dispatch import DispatchCall, RecordingDispatcher
from webhooks import (
    CompositeDispatcher,
    EventDispatcher,
    SweepResult,
    event_id,
    redispatch_inbox,
)

pytestmark = pytest.mark.integration


def _deliver(receiver: Receiver, return_id: str = "1001") -> str:
    delivery_id = str(uuid.uuid4())
    body = json.dumps(return_delivery(return_id, delivery_id=delivery_id)).encode()
    reply = post_json(receiver.returnly_url(), body, signed_headers(body))
    assert reply.json() == {"accepted": 1, "duplicates": 0}
    return delivery_id


def _put(ledger: Ledger, message_id: str = "m-1", status: InboxStatus = "pending") -> None:
    ledger.put_inbox("ams", message_id, MERCHANT, "received", "RLY-1", {"rma_id": "u-1"}, status)


def _age(ledger: Ledger, minutes: float) -> None:
    """Pretend every row was received and last touched ``minutes`` ago."""
    past = datetime.now(UTC) - timedelta(minutes=minutes)
    with ledger.engine.begin() as conn:
        conn.execute(update(InboxMessage).values(received_at=past, updated_at=past))


def _later(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def test_dispatch_failure_keeps_message_pending_then_sweep_redispatches(
    make_receiver: Callable[..., Receiver],
) -> None:
    rx = make_receiver(dispatcher=RecordingDispatcher(failing=True))

    delivery_id = _deliver(rx)  # still a 200: the inbox has it

    rx.dispatcher.wait_for(1, failed=True)
    (row,) = inbox_rows(rx.ledger)
    assert row.status == "pending"
    good = RecordingDispatcher()
    result = sweep_once(0, 10, ledger=rx.ledger, dispatcher=good)
    assert result == SweepResult(examined=1, dispatched=1)
    assert good.calls == [
        DispatchCall(MERCHANT, "returnly", delivery_id, "return.authorized", "1001")
    ]
    assert inbox_rows(rx.ledger)[0].status == "emitted"


def test_sweep_leaves_fresh_messages_to_the_receiver(ledger: Ledger) -> None:
    _put(ledger)
    dispatcher = RecordingDispatcher()

    result = sweep_once(60, 10, ledger=ledger, dispatcher=dispatcher)

    assert result == SweepResult() and dispatcher.calls == []


def test_sweep_never_offers_processed_messages(ledger: Ledger) -> None:
    _put(ledger)
    ledger.mark_inbox("ams", "m-1", "processed")
    dispatcher = RecordingDispatcher()

    result = redispatch_inbox(ledger, dispatcher, now=_later(60))

    assert result.examined == 0 and dispatcher.calls == []


def test_sweep_redispatches_stale_emitted_once_per_window(ledger: Ledger) -> None:
    _put(ledger, status="emitted")
    _age(ledger, minutes=10)
    dispatcher = RecordingDispatcher()

    first = redispatch_inbox(ledger, dispatcher, older_than=timedelta(seconds=60))
    again = redispatch_inbox(ledger, dispatcher, older_than=timedelta(seconds=60))

    assert first == SweepResult(examined=1, dispatched=1)
    assert again == SweepResult(examined=1, skipped=1)  # re-marked just now: still in hand
    assert len(dispatcher.calls) == 1


def test_sweep_failure_counts_and_keeps_message_pending(ledger: Ledger) -> None:
    _put(ledger)

    result = redispatch_inbox(ledger, RecordingDispatcher(failing=True), now=_later(2))

    assert result == SweepResult(examined=1, failed=1)
    assert inbox_rows(ledger)[0].status == "pending"


def test_sweep_retries_failed_messages_until_max_attempts(ledger: Ledger) -> None:
    _put(ledger, "m-1")
    _put(ledger, "m-2")
    ledger.mark_inbox("ams", "m-1", "failed", error="AmsServerError: 503")
    for _ in range(MAX_INBOX_ATTEMPTS):
        ledger.mark_inbox("ams", "m-2", "failed", error="AmsServerError: 503")
    dispatcher = RecordingDispatcher()

    result = redispatch_inbox(ledger, dispatcher, now=_later(2))

    assert result == SweepResult(examined=2, dispatched=1, dead=1)  # m-2 is out of attempts
    assert [c.message_id for c in dispatcher.calls] == ["m-1"]
    row = ledger.get_inbox("ams", "m-1")
    assert row is not None and (row.status, row.error) == ("emitted", "AmsServerError: 503")


def test_sweep_limit_bounds_the_work(ledger: Ledger) -> None:
    for n in range(5):
        _put(ledger, f"m-{n}")
    dispatcher = RecordingDispatcher()

    result = redispatch_inbox(ledger, dispatcher, limit=3, now=_later(2))

    assert result.dispatched == 3
    assert [c.message_id for c in dispatcher.calls] == ["m-0", "m-1", "m-2"]


# --- the event path against an events endpoint that can fail ----------------------------


@pytest.fixture
def events_stub() -> Iterator[tuple[EventsStub, ThreadedServer]]:
    """A Prefect-events stand-in on a free port."""
    stub = EventsStub()
    with serve_in_thread(stub.app()) as server:
        yield stub, server


def test_event_dispatch_outage_is_recovered_by_the_sweeper(
    make_receiver: Callable[..., Receiver], events_stub: tuple[EventsStub, ThreadedServer]
) -> None:
    stub, server = events_stub
    stub.fail_status = 503
    events = EventDispatcher(f"{server.url}/api", headers={})
    rx = make_receiver(dispatcher=events)

    delivery_id = _deliver(rx, return_id="2002")

    wait_until(lambda: stub.attempts == 1)  # the dispatch after the 2xx was refused
    assert inbox_rows(rx.ledger)[0].status == "pending" and stub.events == []
    stub.fail_status = None
    result = redispatch_inbox(rx.ledger, events, older_than=timedelta(0))
    assert result.dispatched == 1
    (event,) = stub.events
    assert event["id"] == str(event_id("returnly", delivery_id))
    assert event["event"] == "returnly.return.authorized"
    assert event["resource"] == {
        "prefect.resource.id": "returnly.return.2002",
        "merchant": MERCHANT,
    }
    assert event["payload"] == {
        "return_id": "2002",
        "message_id": delivery_id,
        "source": "returnly",
        "merchant": MERCHANT,
    }
    assert inbox_rows(rx.ledger)[0].status == "emitted"
    events.close()


def test_event_dispatcher_raises_when_prefect_is_unreachable() -> None:
    events = EventDispatcher(f"http://127.0.0.1:{free_port()}/api", headers={})

    with pytest.raises(httpx.ConnectError):
        events.dispatch(MERCHANT, "ams", "m-1:0", "received", "RLY-1")
    events.close()


def test_composite_dispatcher_fails_when_any_part_fails(ledger: Ledger) -> None:
    first, second = RecordingDispatcher(), RecordingDispatcher(failing=True)
    _put(ledger)

    result = redispatch_inbox(ledger, CompositeDispatcher([first, second]), now=_later(2))

    assert result.failed == 1 and len(first.calls) == 1 and len(second.failed) == 1
    assert inbox_rows(ledger)[0].status == "pending"


# --- re-dispatch attempts are counted and capped; past the cap a message is dead-lettered --


def test_sweep_counts_redispatches_of_emitted_messages_then_dead_letters(ledger: Ledger) -> None:
    """Issue 10 item 6: an ``emitted`` message nobody finishes was re-emitted every sweep for
    ever with ``attempts`` left at 0. Fails on the code before (19 dispatches, attempts 0)."""
    _put(ledger)
    ledger.mark_inbox("ams", "m-1", "emitted")  # handed to Prefect, never finished
    dispatcher = RecordingDispatcher()

    for _ in range(19):  # 19 sweeps, each after the row went stale
        _age(ledger, minutes=10)
        redispatch_inbox(ledger, dispatcher, older_than=timedelta(seconds=60))

    row = ledger.get_inbox("ams", "m-1")
    assert row is not None
    assert len(dispatcher.calls) == MAX_INBOX_ATTEMPTS - 1, len(dispatcher.calls)
    assert (row.status, row.attempts) == ("dead", MAX_INBOX_ATTEMPTS)
    (dead,) = [e for e in ledger.list_exceptions() if e.reason == "inbox_dead_letter"]
    assert dead.subject == "inbox:ams/m-1" and dead.source == "ams"
    assert dead.payload["message_id"] == "m-1" and dead.payload["attempts"] == MAX_INBOX_ATTEMPTS


def test_sweep_dead_letters_messages_that_failed_too_often(ledger: Ledger) -> None:
    """A message that failed ``MAX_INBOX_ATTEMPTS`` times was left ``failed`` without a word.
    Fails on the code before (status stays failed, no exception)."""
    _put(ledger)
    for _ in range(MAX_INBOX_ATTEMPTS):
        ledger.mark_inbox("ams", "m-1", "failed", error="AmsServerError: 503")
    dispatcher = RecordingDispatcher()

    redispatch_inbox(ledger, dispatcher, now=_later(2))

    row = ledger.get_inbox("ams", "m-1")
    assert row is not None and row.status == "dead", row.status if row else None
    assert dispatcher.calls == []
    (dead,) = [e for e in ledger.list_exceptions() if e.reason == "inbox_dead_letter"]
    assert "AmsServerError: 503" in dead.message


def _claimed(ledger: Ledger, run_id: str = "00000000-0000-0000-0000-0000000000aa") -> str:
    _put(ledger)
    ledger.mark_inbox("ams", "m-1", "emitted")
    ledger.claim_inbox("ams", "m-1", run_id)
    _age(ledger, minutes=10)
    return run_id


@pytest.mark.parametrize(
    ("state", "status", "attempts", "calls"),
    [
        ("COMPLETED", "processed", 1, 0),  # the run finished; only its own mark was lost
        ("RUNNING", "emitted", 0, 0),  # still in hand, however old the row
        ("CRASHED", "emitted", 1, 1),  # a failed attempt: counted, dispatched again
    ],
)
def test_sweep_settles_emitted_messages_from_their_run_state(
    ledger: Ledger, state: str, status: str, attempts: int, calls: int
) -> None:
    run_id = _claimed(ledger)
    dispatcher = RecordingDispatcher()

    redispatch_inbox(ledger, dispatcher, run_states=lambda ids: dict.fromkeys(ids, state))

    row = ledger.get_inbox("ams", "m-1")
    assert row is not None and (row.status, row.attempts) == (status, attempts)
    assert len(dispatcher.calls) == calls
    if calls:
        assert dispatcher.calls[0].attempt == 1  # hand-off no. 1: a new event id
        assert row.error == f"flow run {run_id} ended CRASHED"


def test_sweep_leaves_claimed_messages_alone_when_prefect_cannot_answer(ledger: Ledger) -> None:
    _claimed(ledger)
    dispatcher = RecordingDispatcher()

    def down(_ids: object) -> dict[str, str]:
        raise ConnectionError("prefect down")

    result = redispatch_inbox(ledger, dispatcher, run_states=down)

    assert result == SweepResult(examined=1, skipped=1) and dispatcher.calls == []


def test_replay_puts_a_dead_letter_back_and_closes_its_exception(ledger: Ledger) -> None:
    _put(ledger)
    for _ in range(MAX_INBOX_ATTEMPTS):
        ledger.mark_inbox("ams", "m-1", "failed", error="AmsServerError: 503")
    redispatch_inbox(ledger, RecordingDispatcher(), now=_later(2))
    assert [e.reason for e in ledger.list_exceptions()] == ["inbox_dead_letter"]

    row = ledger.replay_inbox("ams", "m-1", by="ops")
    dispatcher = RecordingDispatcher()
    result = redispatch_inbox(ledger, dispatcher, now=_later(2))

    assert (row.status, row.attempts) == ("pending", 0)
    assert ledger.list_exceptions() == []  # resolved by the replay
    assert result.dispatched == 1 and dispatcher.calls[0].message_id == "m-1"


def test_late_success_wins_over_a_dead_letter(ledger: Ledger) -> None:
    _put(ledger)
    ledger.dead_letter_inbox("ams", "m-1", "gave up")

    ledger.mark_inbox("ams", "m-1", "failed", error="late failure")
    assert inbox_rows(ledger)[0].status == "dead"
    ledger.mark_inbox("ams", "m-1", "processed")
    assert inbox_rows(ledger)[0].status == "processed"


def test_event_ids_differ_per_hand_off() -> None:
    ids = {event_id("ams", "m-1", attempt) for attempt in range(5)}
    assert len(ids) == 5 and event_id("ams", "m-1") == event_id("ams", "m-1", 0)
