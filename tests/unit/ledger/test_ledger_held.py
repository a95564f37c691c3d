"""Held-refund reviews: started once, decided once, finished with the exception closed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from ledger import ExceptionRecord, Ledger, LedgerConflictError, LedgerNotFoundError
from ledger.columns import utcnow


def _held(ledger: Ledger, rid: str = "r1") -> ExceptionRecord:
    row, _ = ledger.open_exception(
        "m", "held:policy_review", "received as damaged", {}, return_id=rid, stage="completion"
    )
    return row


def test_start_held_review_once_and_list_the_unstarted(ledger: Ledger) -> None:
    exc = _held(ledger)
    ledger.open_exception("m", "missing_sku", "no sku", {}, return_id="r2")
    assert [e.id for e in ledger.held_without_review("m")] == [exc.id]
    deadline = utcnow() + timedelta(hours=1)
    first, created = ledger.start_held_review(exc, deadline, "keep_open")
    again, created_again = ledger.start_held_review(exc, deadline, "approve")
    assert (created, created_again) == (True, False)
    assert again.id == first.id and again.default_action == "keep_open"
    assert ledger.held_without_review("m") == []
    assert ledger.set_review_run(exc.id, "run-1").flow_run_id == "run-1"


def test_start_held_review_refuses_other_exceptions(ledger: Ledger) -> None:
    other, _ = ledger.open_exception("m", "missing_sku", "no sku", {}, return_id="r2")
    with pytest.raises(ValueError, match="not a held refund"):
        ledger.start_held_review(other, utcnow(), "keep_open")


def test_decide_once_same_decision_again_is_a_no_op_other_is_a_conflict(ledger: Ledger) -> None:
    exc = _held(ledger)
    ledger.start_held_review(exc, utcnow(), "keep_open")
    row = ledger.decide_held_review(exc.id, "approve", "ann", deduction_amount=Decimal("5.00"))
    assert (row.status, row.decision, row.decided_by) == ("decided", "approve", "ann")
    assert row.decided_at is not None
    same = ledger.decide_held_review(exc.id, "approve", "bob", deduction_amount=Decimal("5.00"))
    assert same.decided_by == "ann"
    with pytest.raises(LedgerConflictError, match="already decided: approve by ann"):
        ledger.decide_held_review(exc.id, "reject", "bob")
    with pytest.raises(LedgerConflictError):
        ledger.decide_held_review(exc.id, "approve", "bob")  # another deduction


def test_decide_needs_who(ledger: Ledger) -> None:
    exc = _held(ledger)
    ledger.start_held_review(exc, utcnow(), "keep_open")
    with pytest.raises(ValueError, match="who"):
        ledger.decide_held_review(exc.id, "approve", "")


def test_finish_closes_the_exception_with_decision_who_and_when(ledger: Ledger) -> None:
    exc = _held(ledger)
    ledger.start_held_review(exc, utcnow(), "keep_open")
    with pytest.raises(LedgerConflictError, match="no decision"):
        ledger.finish_held_review(exc.id, "x", close=True)
    decided = ledger.decide_held_review(exc.id, "reject", "ann", note="worn")
    done = ledger.finish_held_review(exc.id, "not refunded", close=True)
    assert (done.status, done.outcome) == ("done", "not refunded")
    closed = ledger.get_exception(exc.id)
    assert closed is not None and closed.status == "resolved"
    assert (closed.resolved_by, closed.resolved_at) == ("ann", decided.decided_at)
    assert closed.note == "reject: not refunded; worn"
    assert ledger.held_reviews("m", "done")[0].exception_id == exc.id


def test_finish_without_close_leaves_the_exception_open(ledger: Ledger) -> None:
    exc = _held(ledger)
    ledger.start_held_review(exc, utcnow(), "keep_open")
    ledger.decide_held_review(exc.id, "approve", "ann")
    ledger.finish_held_review(exc.id, "skipped: RMA not received", close=False)
    still = ledger.get_exception(exc.id)
    assert still is not None and still.status == "open"


def test_overdue_reviews_skip_keep_open_and_future_deadlines(ledger: Ledger) -> None:
    past, future = utcnow() - timedelta(minutes=1), utcnow() + timedelta(hours=1)
    cases: list[tuple[str, Any, str]] = [
        ("r1", past, "approve"),
        ("r2", past, "keep_open"),
        ("r3", future, "reject"),
        ("r4", past, "reject"),
    ]
    ids = {}
    for rid, deadline, default in cases:
        exc = _held(ledger, rid)
        ledger.start_held_review(exc, deadline, default)
        ids[rid] = exc.id
    ledger.decide_held_review(ids["r4"], "approve", "ann")  # decided: no longer waiting
    assert [r.return_id for r in ledger.overdue_held_reviews()] == ["r1"]


def test_review_of_unknown_exception(ledger: Ledger) -> None:
    with pytest.raises(LedgerNotFoundError):
        ledger.set_review_run(999, "run")
    assert ledger.get_held_review(999) is None
