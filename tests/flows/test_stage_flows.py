"""The three stage flows end to end under Prefect: polling, batching, artifacts, dry runs."""

from __future__ import annotations

import pytest
from prefect.artifacts import Artifact

from core.mapping import customer_identifier_for
from flows.arrival import arrival
from flows.completion import completion
from flows.intake import intake
from ledger import Ledger
from stages import names as stages
from tasks.lifecycle import INTAKE_WATERMARK
from tests.support.stack import Stack

MERCHANT = "sandbox-merchant"


def test_poll_driven_lifecycle(stack: Stack, ledger: Ledger) -> None:
    ids = [stack.plant(lines=[{"units": 1}])["id"] for _ in range(35)]
    requested = stack.plant(status="requested")["id"]

    summary = intake(merchant="all")
    assert summary.counts == {"created": 35}  # the poll only asks for statuses intake acts on
    assert set(summary.ids["created"]) == set(ids) and requested not in summary.ids["created"]
    assert ledger.get_watermark(MERCHANT, INTAKE_WATERMARK) is not None
    assert intake(merchant=MERCHANT).counts.get("created", 0) == 0

    with stack.ams() as ams:
        for rid in ids[:10]:
            ams.trigger_rma_event(customer_identifier_for(rid), "receiveFull")
        ams.trigger_rma_event(customer_identifier_for(ids[10]), "inTransit")
    result = arrival(merchant=MERCHANT)
    assert result.counts["refunded"] == 10
    assert sorted(result.ids["refunded"]) == sorted(ids[:10])
    assert all(stack.refund_count(rid) == 1 for rid in ids[:10])
    assert ledger.get_link(MERCHANT, return_id=ids[10]).stage == stages.IN_TRANSIT  # type: ignore[union-attr]

    again = completion(merchant=MERCHANT, return_ids=ids[:10])
    assert again.counts == {"already_done": 10}
    artifact = Artifact.get("completion-sandbox-merchant")
    assert artifact is not None and "already_done" in str(artifact.data)


def test_arrival_poll_completes_returns_left_received(stack: Stack, ledger: Ledger) -> None:
    """A refund that died after the receipt was recorded leaves the link ``received``: the
    arrival poll (the safety net) must pick it up, not only RMAs still open.

    Found by the chaos run; fails on the code before (the poll read only open links).
    """
    rid = stack.plant(lines=[{"units": 1}])["id"]
    assert intake(merchant=MERCHANT).counts == {"created": 1}
    with stack.ams() as ams:
        ams.trigger_rma_event(customer_identifier_for(rid), "receiveFull")
    ledger.set_stage(MERCHANT, rid, stages.RECEIVED, status="received")  # as a crash leaves it
    assert stack.refund_count(rid) == 0
    result = arrival(merchant=MERCHANT)
    assert result.ids.get("refunded") == [rid]
    assert stack.refund_count(rid) == 1


def test_dry_run_changes_nothing(stack: Stack, ledger: Ledger) -> None:
    rid = stack.plant()["id"]
    summary = intake(merchant=MERCHANT, dry_run=True)
    assert summary.counts == {"planned": 1}
    with stack.ams() as ams:
        assert list(ams.iter_rmas()) == []
    assert ledger.get_watermark(MERCHANT, INTAKE_WATERMARK) is None
    assert intake(merchant=MERCHANT, return_ids=[rid]).counts == {"created": 1}


def test_unknown_merchant_fails_clearly() -> None:
    with pytest.raises(LookupError, match="unknown merchant 'nope'"):
        intake(merchant="nope")
