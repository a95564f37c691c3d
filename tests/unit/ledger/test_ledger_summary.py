"""counts(): the at-a-glance numbers for the demo and reports."""

from __future__ import annotations

from ledger import Ledger


def test_counts_empty(ledger: Ledger) -> None:
    assert ledger.counts() == {
        "links_by_stage": {},
        "open_exceptions_by_reason": {},
        "inbox_by_status": {},
        "refunds_by_status": {},
    }


def test_counts_by_merchant(ledger: Ledger) -> None:
    ledger.upsert_link("m", "r1", "c1", stage="rma_open")
    ledger.upsert_link("m", "r2", "c2", stage="rma_open")
    ledger.upsert_link("m", "r3", "c3", stage="refunded")
    ledger.upsert_link("other", "r1", "c1", stage="rma_open")
    row, _ = ledger.open_exception("m", "qty_short", "x", {}, return_id="r1")
    ledger.open_exception("m", "qty_short", "x", {}, return_id="r2")
    ledger.open_exception("m", "damaged", "x", {}, return_id="r2")
    ledger.open_exception("m", "damaged", "x", {}, return_id="r3")
    ledger.resolve_exception(row.id, "resolved")
    ledger.put_inbox("ams", "a", "m", "k", None, {})
    ledger.put_inbox("ams", "b", "m", "k", None, {}, status="processed")
    ledger.begin_refund("m", "r3", "k1", [])
    ledger.begin_refund("m", "r2", "k2", [])
    ledger.complete_refund("k1", "rf", "1.00")
    assert ledger.counts("m") == {
        "links_by_stage": {"refunded": 1, "rma_open": 2},
        "open_exceptions_by_reason": {"damaged": 2, "qty_short": 1},
        "inbox_by_status": {"pending": 1, "processed": 1},
        "refunds_by_status": {"pending": 1, "succeeded": 1},
    }
    assert ledger.counts()["links_by_stage"] == {"refunded": 1, "rma_open": 3}
    assert ledger.counts("nobody")["links_by_stage"] == {}
