"""Links between a Returnly return and its AMS RMA, and the append-only stage history."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import Ledger, LedgerConflictError, LedgerError, LedgerNotFoundError, StageEvent
from ledger.links import LinkChange
from ledger.store import IN_CHUNK


def test_upsert_link_creates_with_default_stage(ledger: Ledger) -> None:
    link = ledger.upsert_link("m", "r1", "cust-r1")
    assert (link.merchant, link.return_id, link.customer_identifier) == ("m", "r1", "cust-r1")
    assert link.stage == "new"
    assert link.ams_uuid is None
    assert link.rma_number is None
    assert link.created_at.tzinfo is not None


def test_upsert_link_fills_in_and_keeps_known_values(ledger: Ledger) -> None:
    ledger.upsert_link("m", "r1", "cust-r1", rma_number="RMA-1", stage="intake")
    link = ledger.upsert_link("m", "r1", "cust-r1", ams_uuid="uuid-1")
    assert link.rma_number == "RMA-1"
    assert link.ams_uuid == "uuid-1"
    assert link.stage == "intake"
    assert link.updated_at >= link.created_at


def test_upsert_link_same_ids_other_merchant_is_separate(ledger: Ledger) -> None:
    a = ledger.upsert_link("m1", "r1", "cust-r1")
    b = ledger.upsert_link("m2", "r1", "cust-r1")
    assert a.id != b.id


@pytest.mark.parametrize(
    ("return_id", "customer_identifier"),
    [
        pytest.param("r1", "cust-other", id="return-relinked"),
        pytest.param("r2", "cust-r1", id="identifier-reused"),
    ],
)
def test_upsert_link_identity_clash_conflicts(
    ledger: Ledger, return_id: str, customer_identifier: str
) -> None:
    ledger.upsert_link("m", "r1", "cust-r1")
    with pytest.raises(LedgerConflictError):
        ledger.upsert_link("m", return_id, customer_identifier)
    link = ledger.get_link("m", return_id="r1")
    assert link is not None
    assert link.customer_identifier == "cust-r1"


def test_upsert_link_requires_ids(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="required"):
        ledger.upsert_link("m", "", "cust")


def test_get_link_by_each_identifier(ledger: Ledger) -> None:
    ledger.upsert_link("m", "r1", "cust-r1", ams_uuid="uuid-1")
    for kwargs in ({"return_id": "r1"}, {"customer_identifier": "cust-r1"}, {"ams_uuid": "uuid-1"}):
        link = ledger.get_link("m", **kwargs)
        assert link is not None, kwargs
        assert link.return_id == "r1"
    assert ledger.get_link("m", return_id="r1", customer_identifier="cust-other") is None
    assert ledger.get_link("other", return_id="r1") is None
    assert ledger.get_link("m", return_id="nope") is None


def test_get_link_without_identifier_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError):
        ledger.get_link("m")


def test_links_in_stage_filters_stage_and_merchant(ledger: Ledger) -> None:
    ledger.upsert_link("m", "r1", "c1", stage="rma_open")
    ledger.upsert_link("m", "r2", "c2", stage="received")
    ledger.upsert_link("m", "r3", "c3", stage="rma_open")
    ledger.upsert_link("other", "r4", "c4", stage="rma_open")
    assert [x.return_id for x in ledger.links_in_stage("m", ["rma_open"])] == ["r1", "r3"]
    assert {x.return_id for x in ledger.links_in_stage("m", ("rma_open", "received"))} == {
        "r1",
        "r2",
        "r3",
    }
    assert len(ledger.links_in_stage(None, ["rma_open"])) == 3
    assert ledger.links_in_stage("m", []) == []


def test_set_stage_moves_link(ledger: Ledger) -> None:
    ledger.upsert_link("m", "r1", "c1", stage="rma_open")
    link = ledger.set_stage("m", "r1", "received", status="received")
    assert (link.stage, link.status) == ("received", "received")
    assert ledger.links_in_stage("m", ["rma_open"]) == []
    stored = ledger.get_link("m", return_id="r1")
    assert stored is not None
    assert stored.stage == "received"


def test_set_stage_unknown_link_not_found(ledger: Ledger) -> None:
    with pytest.raises(LedgerNotFoundError):
        ledger.set_stage("m", "missing", "received")


def test_record_stage_history_in_order(ledger: Ledger) -> None:
    ledger.record_stage("m", "r1", "intake", "rma_created", {"uuid": "u-1"}, run_id="run-1")
    ledger.record_stage("m", "r2", "intake", "rma_created")
    ledger.record_stage("m", "r1", "arrival", "received", {"qty": 2})
    ledger.record_stage("m", "r1", "completion", "refunded", None, run_id="run-3")
    events = ledger.history("m", "r1")
    assert [(e.stage, e.outcome) for e in events] == [
        ("intake", "rma_created"),
        ("arrival", "received"),
        ("completion", "refunded"),
    ]
    assert events[0].detail == {"uuid": "u-1"}
    assert events[0].run_id == "run-1"
    assert events[2].detail is None
    assert all(e.recorded_at.tzinfo is not None for e in events)
    assert ledger.history("other", "r1") == []


def test_history_is_append_only(ledger: Ledger) -> None:
    assert not [n for n in dir(ledger) if "stage" in n and n.startswith(("delete", "update"))]
    ledger.record_stage("m", "r1", "intake", "rma_created")
    with Session(ledger.engine) as session:
        event = session.scalars(select(StageEvent)).one()
        event.outcome = "rewritten"
        with pytest.raises(LedgerError, match="append-only"):
            session.flush()
        session.rollback()
        event = session.scalars(select(StageEvent)).one()
        session.delete(event)
        with pytest.raises(LedgerError, match="append-only"):
            session.flush()
    assert [e.outcome for e in ledger.history("m", "r1")] == ["rma_created"]


def test_identifier_over_limit_refused_on_every_backend(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="limit"):
        ledger.upsert_link("m" * 129, "r1", "c1")
    with pytest.raises(ValueError, match="limit"):
        ledger.upsert_link("m", "r" * 256, "c1")
    assert ledger.counts()["links_by_stage"] == {}


def test_upsert_link_with_history_writes_both_or_neither(ledger: Ledger) -> None:
    from ledger import LedgerConflictError, StageNote

    ledger.upsert_link(
        "m", "r1", "RLY-r1", stage="rma_created", history=StageNote("intake", "created")
    )
    assert [(e.stage, e.outcome) for e in ledger.history("m", "r1")] == [("intake", "created")]
    with pytest.raises(LedgerConflictError):
        ledger.upsert_link("m", "r1", "RLY-other", history=StageNote("intake", "clash"))
    assert [e.outcome for e in ledger.history("m", "r1")] == ["created"]


def test_links_for_reads_more_ids_than_one_in_list_holds(ledger: Ledger) -> None:
    """Return ids and identifiers are read in IN lists of IN_CHUNK; a link found by both (in
    different chunks) comes back once."""
    n = IN_CHUNK * 2 + 5
    ledger.upsert_links("m", [LinkChange(f"r{i}", f"cust-r{i}") for i in range(n)])
    rids = [f"r{i}" for i in range(n)]
    cids = [f"cust-r{i}" for i in reversed(range(n))]
    found = ledger.links_for("m", return_ids=rids, customer_identifiers=cids)
    assert sorted(lk.return_id for lk in found) == sorted(rids)
