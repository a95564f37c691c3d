"""Exceptions awaiting review: deduplicated by fingerprint while open."""

from __future__ import annotations

import pytest

from ledger import (
    ExceptionNote,
    Ledger,
    LedgerConflictError,
    LedgerNotFoundError,
    LinkChange,
    StageNote,
)


def test_open_exception_dedupes_while_open(ledger: Ledger) -> None:
    first, created = ledger.open_exception(
        "m", "qty_short", "2 of 3 arrived", {"expected": 3}, return_id="r1", stage="arrival"
    )
    assert created is True
    assert (first.status, first.occurrences, first.stage) == ("open", 1, "arrival")
    again, created_again = ledger.open_exception(
        "m", "qty_short", "2 of 3 arrived (again)", {"expected": 3}, return_id="r1"
    )
    assert created_again is False
    assert again.id == first.id
    assert again.occurrences == 2
    assert again.message == "2 of 3 arrived"
    assert len(ledger.list_exceptions("m")) == 1


def test_open_exception_fingerprint_parts_distinguish(ledger: Ledger) -> None:
    ledger.open_exception("m", "qty_short", "x", {}, return_id="r1")
    assert ledger.open_exception("m", "damaged", "x", {}, return_id="r1")[1] is True
    assert ledger.open_exception("m", "qty_short", "x", {}, return_id="r2")[1] is True
    assert ledger.open_exception("m2", "qty_short", "x", {}, return_id="r1")[1] is True
    assert len(ledger.list_exceptions()) == 4
    assert len(ledger.list_exceptions("m")) == 3


def test_open_exception_without_return_uses_payload(ledger: Ledger) -> None:
    _, a = ledger.open_exception("m", "bad_signature", "x", {"id": 1}, source="returnly")
    _, b = ledger.open_exception("m", "bad_signature", "x", {"id": 1}, source="returnly")
    _, c = ledger.open_exception("m", "bad_signature", "x", {"id": 2}, source="returnly")
    _, d = ledger.open_exception("m", "bad_signature", "x", {"id": 3}, subject="s")
    _, e = ledger.open_exception("m", "bad_signature", "x", {"id": 4}, subject="s")
    assert (a, b, c, d, e) == (True, False, True, True, False)


def test_open_exception_keeps_long_message(ledger: Ledger) -> None:
    message = "AMS said: " + "line too long; " * 20_000
    row, _ = ledger.open_exception("m", "ams_rejected", message, {"errors": ["é" * 5000]})
    stored = ledger.get_exception(row.id)
    assert stored is not None
    assert stored.message == message
    assert stored.payload == {"errors": ["é" * 5000]}


def test_resolve_exception_then_new_sighting_reopens(ledger: Ledger) -> None:
    row, _ = ledger.open_exception("m", "qty_short", "x", {}, return_id="r1")
    closed = ledger.resolve_exception(row.id, "resolved", note="closed by hand", by="ana")
    assert (closed.status, closed.note, closed.resolved_by) == ("resolved", "closed by hand", "ana")
    assert closed.resolved_at is not None
    assert ledger.list_exceptions("m") == []
    assert [r.id for r in ledger.list_exceptions("m", status="resolved")] == [row.id]
    fresh, created = ledger.open_exception("m", "qty_short", "x", {}, return_id="r1")
    assert created is True
    assert fresh.id != row.id
    assert fresh.fingerprint == row.fingerprint
    assert len(ledger.list_exceptions("m", status=None)) == 2


def test_resolve_exception_ignored_and_twice(ledger: Ledger) -> None:
    row, _ = ledger.open_exception("m", "qty_short", "x", {}, return_id="r1")
    assert ledger.resolve_exception(row.id, "ignored", note="known", by="bo").status == "ignored"
    with pytest.raises(LedgerConflictError):
        ledger.resolve_exception(row.id, "resolved", note="again", by="bo")


def test_resolve_exception_unknown_or_bad_status(ledger: Ledger) -> None:
    with pytest.raises(LedgerNotFoundError):
        ledger.resolve_exception(999_999, "resolved")
    row, _ = ledger.open_exception("m", "qty_short", "x", {}, return_id="r1")
    with pytest.raises(ValueError):
        ledger.resolve_exception(row.id, "open")  # type: ignore[arg-type]


def test_record_changes_writes_links_and_exceptions_in_one_transaction(ledger: Ledger) -> None:
    notes = [
        ExceptionNote("mapping:no_sku", "line has no SKU", {"i": 1}, return_id="r1"),
        ExceptionNote("mapping:no_sku", "line has no SKU", {"i": 1}, return_id="r1"),
        ExceptionNote("ams_rejected", "bad zip", {"i": 2}, return_id="r2"),
    ]
    links = [
        LinkChange("r1", "cust-r1", stage="intake_exception", history=StageNote("intake", "x")),
        LinkChange("r2", "cust-r2", stage="intake_exception"),
    ]
    results = ledger.record_changes("m", links, notes)
    assert [created for _, created in results] == [True, False, True]
    open_rows = ledger.list_exceptions("m")
    assert [(e.reason, e.occurrences) for e in open_rows] == [
        ("mapping:no_sku", 2),
        ("ams_rejected", 1),
    ]
    assert {lk.return_id: lk.stage for lk in ledger.links_for("m", return_ids=["r1", "r2"])} == {
        "r1": "intake_exception",
        "r2": "intake_exception",
    }


def test_record_changes_rolls_back_everything_on_a_link_conflict(ledger: Ledger) -> None:
    ledger.upsert_link("m", "r1", "cust-r1")
    with pytest.raises(LedgerConflictError):
        ledger.record_changes(
            "m",
            [LinkChange("r9", "cust-r1")],
            [ExceptionNote("x", "y", {}, return_id="r9")],
        )
    assert ledger.list_exceptions("m") == []
