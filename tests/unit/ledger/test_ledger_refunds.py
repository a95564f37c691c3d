"""Refund attempts: claimed once per key, completed once, never silently overwritten."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger import (
    Ledger,
    LedgerConflictError,
    LedgerNotFoundError,
    LinkChange,
    RefundClaim,
    RefundDone,
    StageNote,
)

LINES = [{"line_id": "l1", "sku": "TEE-BLACK-M", "quantity": 2}]


def test_begin_refund_claims_key_once(ledger: Ledger) -> None:
    row, created = ledger.begin_refund("m", "r1", "key-1", LINES)
    assert created is True
    assert (row.status, row.lines, row.refund_id, row.amount) == ("pending", LINES, None, None)
    again, created_again = ledger.begin_refund("m", "r1", "key-1", LINES)
    assert created_again is False
    assert again.id == row.id


def test_begin_refund_key_of_other_return_conflicts(ledger: Ledger) -> None:
    ledger.begin_refund("m", "r1", "key-1", LINES)
    with pytest.raises(LedgerConflictError):
        ledger.begin_refund("m", "r2", "key-1", LINES)


def test_complete_refund_exact_amount(ledger: Ledger) -> None:
    ledger.begin_refund("m", "r1", "key-1", LINES)
    row = ledger.complete_refund("key-1", "rf-1", "12.30")
    assert (row.status, row.refund_id, row.amount) == ("succeeded", "rf-1", Decimal("12.30"))
    assert row.completed_at is not None
    stored = ledger.get_refund("key-1")
    assert stored is not None
    assert str(stored.amount) == "12.30"


def test_complete_refund_already_refunded_and_repeat(ledger: Ledger) -> None:
    ledger.begin_refund("m", "r1", "key-1", LINES)
    ledger.complete_refund("key-1", "rf-1", Decimal("5"), status="already_refunded")
    same = ledger.complete_refund("key-1", "rf-1", Decimal("5"), status="already_refunded")
    assert same.status == "already_refunded"
    with pytest.raises(LedgerConflictError):
        ledger.complete_refund("key-1", "rf-2", Decimal("5"))


def test_fail_refund_then_complete(ledger: Ledger) -> None:
    ledger.begin_refund("m", "r1", "key-1", LINES)
    failed = ledger.fail_refund("key-1", "503 from Returnly")
    assert (failed.status, failed.error, failed.failures) == ("failed", "503 from Returnly", 1)
    assert ledger.fail_refund("key-1", "again").failures == 2
    done = ledger.complete_refund("key-1", "rf-1", 10)
    assert (done.status, done.error) == ("succeeded", None)
    with pytest.raises(LedgerConflictError):
        ledger.fail_refund("key-1", "late error")
    stored = ledger.get_refund("key-1")
    assert stored is not None
    assert stored.status == "succeeded"


def test_refund_unknown_key(ledger: Ledger) -> None:
    assert ledger.get_refund("nope") is None
    with pytest.raises(LedgerNotFoundError):
        ledger.complete_refund("nope", "rf", 1)
    with pytest.raises(LedgerNotFoundError):
        ledger.fail_refund("nope", "x")


def test_complete_refund_bad_status_refused(ledger: Ledger) -> None:
    ledger.begin_refund("m", "r1", "key-1", LINES)
    with pytest.raises(ValueError):
        ledger.complete_refund("key-1", "rf", 1, status="failed")  # type: ignore[arg-type]


def test_refunds_for_return(ledger: Ledger) -> None:
    ledger.begin_refund("m", "r1", "key-1", LINES)
    ledger.begin_refund("m", "r1", "key-2", [{"line_id": "l2", "quantity": 1}])
    ledger.begin_refund("m", "r2", "key-3", LINES)
    assert [r.key for r in ledger.refunds_for_return("m", "r1")] == ["key-1", "key-2"]
    assert ledger.refunds_for_return("other", "r1") == []


def test_begin_refunds_batch_keeps_order_and_flags_new_claims(ledger: Ledger) -> None:
    ledger.begin_refund("m", "r2", "key-2", LINES)
    claims = [RefundClaim(f"r{i}", f"key-{i}", LINES) for i in (1, 2, 3)]
    results = ledger.begin_refunds("m", claims)
    assert [(row.key, created) for row, created in results] == [
        ("key-1", True),
        ("key-2", False),
        ("key-3", True),
    ]
    assert {row.status for row, _ in results} == {"pending"}


def test_begin_refunds_refuses_a_key_of_another_return_and_saves_nothing(ledger: Ledger) -> None:
    ledger.begin_refund("m", "r1", "key-1", LINES)
    with pytest.raises(LedgerConflictError):
        ledger.begin_refunds(
            "m", [RefundClaim("r5", "key-5", LINES), RefundClaim("r2", "key-1", [])]
        )
    assert ledger.get_refund("key-5") is None


def test_begin_refunds_refuses_an_empty_key(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="key"):
        ledger.begin_refunds("m", [RefundClaim("r1", "", LINES)])


def test_finish_refunds_records_refunds_and_links_in_one_go(ledger: Ledger) -> None:
    ledger.begin_refunds("m", [RefundClaim("r1", "key-1", LINES), RefundClaim("r2", "key-2", [])])
    link = LinkChange("r1", "cust-r1", stage="refunded", history=StageNote("completion", "ok"))
    rows = ledger.finish_refunds(
        "m", [RefundDone("key-1", "rf-1", "3.50", link=link), RefundDone("key-2", "rf-2", 1)]
    )
    assert [(r.key, r.status, r.refund_id) for r in rows] == [
        ("key-1", "succeeded", "rf-1"),
        ("key-2", "succeeded", "rf-2"),
    ]
    stored = ledger.get_link("m", return_id="r1")
    assert stored is not None and stored.stage == "refunded"
    assert [(h.stage, h.outcome) for h in ledger.history("m", "r1")] == [("completion", "ok")]
    assert ledger.get_link("m", return_id="r2") is None


def test_finish_refunds_conflict_is_raised_after_the_others_are_saved(ledger: Ledger) -> None:
    ledger.begin_refunds("m", [RefundClaim("r1", "key-1", LINES), RefundClaim("r2", "key-2", [])])
    ledger.complete_refund("key-1", "rf-1", "1")
    link = LinkChange("r1", "cust-r1", stage="refunded")
    with pytest.raises(LedgerConflictError, match="key-1"):
        ledger.finish_refunds(
            "m", [RefundDone("key-1", "rf-other", "1", link=link), RefundDone("key-2", "rf-2", 2)]
        )
    done = ledger.get_refund("key-2")
    assert done is not None and done.refund_id == "rf-2"
    first = ledger.get_refund("key-1")
    assert first is not None and first.refund_id == "rf-1"
    assert ledger.get_link("m", return_id="r1") is None  # the conflicting change is not applied


def test_refund_found_by_a_concurrent_run_is_relabelled_when_its_poster_records_it(
    ledger: Ledger,
) -> None:
    """Run A posts the refund; run B re-reads Returnly first and files it as already refunded."""
    ledger.begin_refund("m", "r1", "key-1", LINES)
    ledger.complete_refund("key-1", "rf-1", "5", status="already_refunded")  # run B
    row = ledger.complete_refund("key-1", "rf-1", "5")  # run A, whose POST made rf-1
    assert (row.status, row.refund_id) == ("succeeded", "rf-1")
    again = ledger.complete_refund("key-1", "rf-1", "5", status="already_refunded")
    assert again.status == "succeeded"  # never downgraded
