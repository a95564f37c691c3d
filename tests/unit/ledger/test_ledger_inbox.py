"""The inbox: dedupe by (source, message_id), rejected messages, the work queue view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger import Ledger, LedgerConflictError, LedgerNotFoundError


def test_put_inbox_creates_then_dedupes(ledger: Ledger) -> None:
    first, created = ledger.put_inbox("ams", "msg-1", "m", "rmaEvent", "uuid-1", {"status": "x"})
    assert created is True
    assert (first.status, first.attempts, first.payload) == ("pending", 0, {"status": "x"})
    again, created_again = ledger.put_inbox("ams", "msg-1", "m", "rmaEvent", "uuid-1", {"other": 1})
    assert created_again is False
    assert again.id == first.id
    assert again.payload == {"status": "x"}  # the first copy wins


def test_put_inbox_same_id_other_source_is_separate(ledger: Ledger) -> None:
    a, _ = ledger.put_inbox("ams", "msg-1", "m", "rmaEvent", None, {})
    b, created = ledger.put_inbox("returnly", "msg-1", "m", "return.authorized", None, {})
    assert created is True
    assert a.id != b.id


def test_put_inbox_keeps_raw_string_and_long_payload(ledger: Ledger) -> None:
    raw = '{"not": "json"' + "x" * 200_000
    ledger.put_inbox("returnly", "raw-1", "m", "return.authorized", None, raw)
    nested = {"items": [{"sku": f"TEE-{i}", "note": "é ✓ " * 50} for i in range(500)]}
    ledger.put_inbox("returnly", "big-1", "m", "return.authorized", "r1", nested)
    stored = ledger.get_inbox("returnly", "raw-1")
    assert stored is not None
    assert stored.payload == raw
    big = ledger.get_inbox("returnly", "big-1")
    assert big is not None
    assert big.payload == nested


def test_put_inbox_rejected_status_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError):
        ledger.put_inbox("ams", "m1", "m", "k", None, {}, status="rejected")


def test_reject_inbox_generates_id_and_keeps_claim(ledger: Ledger) -> None:
    bad = ledger.reject_inbox(
        "returnly", "m", "return.authorized", "raw", "bad_signature", claimed_message_id="msg-9"
    )
    bad2 = ledger.reject_inbox("returnly", "m", "return.authorized", "raw", "bad_signature")
    assert bad.message_id != "msg-9"
    assert bad.message_id.startswith("rejected-")
    assert bad.message_id != bad2.message_id
    assert (bad.status, bad.error, bad.claimed_message_id) == ("rejected", "bad_signature", "msg-9")
    # The genuine message with the claimed id is still accepted afterwards.
    _, created = ledger.put_inbox("returnly", "msg-9", "m", "return.authorized", None, {})
    assert created is True
    assert bad.id not in {m.id for m in ledger.pending_inbox(100)}


def test_pending_inbox_order_limit_and_age(ledger: Ledger) -> None:
    for i in range(5):
        ledger.put_inbox("ams", f"msg-{i}", "m", "rmaEvent", None, {"i": i})
    ledger.put_inbox("ams", "done", "m", "rmaEvent", None, {}, status="processed")
    pending = ledger.pending_inbox(3)
    assert [m.message_id for m in pending] == ["msg-0", "msg-1", "msg-2"]
    assert ledger.pending_inbox(0) == []
    past = datetime.now(UTC) - timedelta(hours=1)
    assert ledger.pending_inbox(10, older_than=past) == []
    future = datetime.now(UTC) + timedelta(hours=1)
    assert len(ledger.pending_inbox(10, older_than=future)) == 5


def test_pending_inbox_naive_older_than_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ledger.pending_inbox(10, older_than=datetime(2025, 1, 1))


def test_mark_inbox_counts_attempts_and_retires_failed(ledger: Ledger) -> None:
    ledger.put_inbox("ams", "msg-1", "m", "rmaEvent", None, {})
    row = ledger.mark_inbox(None, "msg-1", "emitted")
    assert (row.status, row.attempts) == ("emitted", 0)
    assert ledger.pending_inbox(10) == []
    assert [m.message_id for m in ledger.pending_inbox(10, statuses=("emitted",))] == ["msg-1"]
    for n in range(1, 4):
        row = ledger.mark_inbox(None, "msg-1", "failed", error=f"boom {n}")
        assert (row.status, row.attempts, row.error) == ("failed", n, f"boom {n}")
    assert [m.message_id for m in ledger.pending_inbox(10, max_attempts=4)] == ["msg-1"]
    assert ledger.pending_inbox(10, max_attempts=3) == []
    done = ledger.mark_inbox("ams", "msg-1", "processed")
    assert (done.status, done.attempts, done.error) == ("processed", 4, None)
    assert done.processed_at is not None
    assert ledger.pending_inbox(10) == []


def test_mark_inbox_unknown_and_ambiguous(ledger: Ledger) -> None:
    with pytest.raises(LedgerNotFoundError):
        ledger.mark_inbox(None, "nope", "processed")
    ledger.put_inbox("ams", "same", "m", "k", None, {})
    ledger.put_inbox("returnly", "same", "m", "k", None, {})
    with pytest.raises(LedgerConflictError, match="source"):
        ledger.mark_inbox(None, "same", "processed")
    assert ledger.mark_inbox("ams", "same", "processed").source == "ams"


def test_mark_inbox_bad_status_refused(ledger: Ledger) -> None:
    ledger.put_inbox("ams", "msg-1", "m", "k", None, {})
    with pytest.raises(ValueError):
        ledger.mark_inbox(None, "msg-1", "pending")  # type: ignore[arg-type]


def test_rejected_inbox_lists_refusals_newest_first(ledger: Ledger) -> None:
    ledger.put_inbox("returnly", "d-1", "m", "return.authorized", "1", {})
    ledger.reject_inbox("returnly", "m", "return.authorized", {}, "signature mismatch")
    ledger.reject_inbox("ams", "m", "rmaEvent", {}, "wrong token (bearer)")
    ledger.reject_inbox("ams", "other", "rmaEvent", {}, "unknown merchant")

    assert [r.error for r in ledger.rejected_inbox()] == [
        "unknown merchant",
        "wrong token (bearer)",
        "signature mismatch",
    ]
    assert [r.error for r in ledger.rejected_inbox(source="ams", merchant="m")] == [
        "wrong token (bearer)"
    ]
    assert len(ledger.rejected_inbox(limit=1)) == 1
    assert ledger.rejected_inbox(limit=0) == []
