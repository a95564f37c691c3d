"""Refund attempts: claimed once per key, completed once, never silently overwritten."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ledger import Ledger, LedgerConflictError, LedgerNotFoundError

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
