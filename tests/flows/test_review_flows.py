"""The review queue's flows under Prefect: artifacts, approve/reject/resolve/retry, sweep."""

from __future__ import annotations

import json

import pytest
from prefect.artifacts import Artifact

from core.mapping import customer_identifier_for
from flows.arrival import arrival
from flows.intake import intake
from flows.review_decide import review_decide
from flows.review_resolve import review_resolve
from flows.review_retry import review_retry
from flows.review_sweep import review_sweep
from ledger import Ledger
from stages import names as stages
from tests.support.stack import Stack

MERCHANT = "sandbox-merchant"


@pytest.fixture(autouse=True)
def _review_qc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only 'available' is refunded: the DataFactory's 'qc' receipts are held for review."""
    monkeypatch.setenv("BRIDGE_AMS_REFUND_STATUSES", '["available"]')


def _held(stack: Stack, ledger: Ledger, n: int = 1) -> list[tuple[str, int]]:
    ids = [stack.plant(lines=[{"units": 1, "unit_price": "40.00"}])["id"] for _ in range(n)]
    intake(merchant=MERCHANT, return_ids=ids)
    with stack.ams() as ams:
        for rid in ids:
            ams.trigger_rma_event(customer_identifier_for(rid), "receiveFull")
    assert arrival(merchant=MERCHANT).counts.get("held") == n
    held = {e.return_id: e.id for e in ledger.list_exceptions(MERCHANT) if e.reason[:5] == "held:"}
    return [(rid, held[rid]) for rid in ids]


def test_stage_run_publishes_the_review_queue(stack: Stack, ledger: Ledger) -> None:
    [(rid, exc_id)] = _held(stack, ledger)
    table = Artifact.get("review-sandbox-merchant")
    assert table is not None
    rows = json.loads(str(table.data))
    (row,) = [r for r in rows if r["id"] == exc_id]
    assert row["return_id"] == rid and row["reason"].startswith("held:")
    assert row["rma"] and "approve" in row["suggested_action"]
    summary = Artifact.get("review-sandbox-merchant-summary")
    assert summary is not None and "**1 open**" in str(summary.data)
    # No review-held-refund deployment here: the review waits in the ledger for one.
    review = ledger.get_held_review(exc_id)
    assert review is not None and review.status == "waiting" and review.flow_run_id is None


def test_review_decide_approves_and_rejects_without_a_waiting_run(
    stack: Stack, ledger: Ledger
) -> None:
    (ok, ok_id), (no, no_id) = _held(stack, ledger, 2)
    approved = review_decide(
        merchant=MERCHANT, exception_id=ok_id, reviewer="ann", deduction_amount=5.0
    )
    rejected = review_decide(
        merchant=MERCHANT, exception_id=no_id, reviewer="ann", decision="reject"
    )
    assert approved.sent_to_run is None and (approved.outcome or "").startswith("refunded")
    assert rejected.outcome == "not refunded"
    assert stack.refund_count(ok) == 1 and stack.refund_count(no) == 0
    assert {e.id for e in ledger.list_exceptions(MERCHANT)} & {ok_id, no_id} == set()
    review = ledger.get_held_review(ok_id)
    assert review is not None and str(review.deduction_amount) == "5.00"
    summary = Artifact.get("review-sandbox-merchant-summary")
    assert summary is not None and "No open exceptions." in str(summary.data)


def test_review_resolve_by_reason_and_held_without_refund(stack: Stack, ledger: Ledger) -> None:
    [(rid, exc_id)] = _held(stack, ledger)
    a, _ = ledger.open_exception(MERCHANT, "rma_without_return", "x", {"n": 1})
    b, _ = ledger.open_exception(MERCHANT, "rma_without_return", "y", {"n": 2})
    by_reason = review_resolve(
        merchant=MERCHANT, reviewer="ann", note="checked in AMS", reason="rma_without_return"
    )
    assert sorted(by_reason.resolved) == [a.id, b.id]
    held = review_resolve(
        merchant=MERCHANT, reviewer="ann", note="refunded by hand", exception_ids=[exc_id]
    )
    assert held.resolved == [exc_id]
    closed = ledger.get_exception(exc_id)
    assert closed is not None and closed.status == "resolved" and closed.resolved_by == "ann"
    assert stack.refund_count(rid) == 0
    assert ledger.list_exceptions(MERCHANT) == []


def test_review_retry_resolves_what_the_stage_now_settles(stack: Stack, ledger: Ledger) -> None:
    rid = stack.plant(lines=[{"units": 1}])["id"]
    # As AMS left it after a transient refusal: the exception, no RMA yet.
    fixed, _ = ledger.open_exception(
        MERCHANT, "ams_rejected", "AMS said no", {}, return_id=rid, stage="intake"
    )
    [(held_rid, held_id)] = _held(stack, ledger)
    orphan, _ = ledger.open_exception(MERCHANT, "rma_without_return", "z", {"cid": "c"})
    result = review_retry(merchant=MERCHANT, exception_ids=[fixed.id, held_id, orphan.id])
    assert result.results == {
        fixed.id: "resolved",
        held_id: "still open",  # completion holds it again: a person must decide
        orphan.id: "not retried: it names no return",
    }
    assert ledger.get_link(MERCHANT, return_id=rid).stage == stages.RMA_CREATED  # type: ignore[union-attr]
    closed = ledger.get_exception(fixed.id)
    assert closed is not None and closed.resolved_by == "review-retry"
    assert stack.refund_count(held_rid) == 0


def test_review_sweep_applies_the_merchant_default_after_the_deadline(
    stack: Stack, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    [(rid, exc_id)] = _held(stack, ledger)
    review = ledger.get_held_review(exc_id)
    assert review is not None and review.default_action == "keep_open"
    assert review_sweep(merchant=MERCHANT).defaulted == {MERCHANT: []}
    with ledger._write() as session:  # as if the deadline had passed, default reject
        from ledger.models import HeldReview

        row = session.get(HeldReview, review.id)
        assert row is not None
        row.default_action = "reject"
        row.deadline = review.created_at
    result = review_sweep(merchant=MERCHANT)
    assert result.defaulted == {MERCHANT: [exc_id]}
    done = ledger.get_held_review(exc_id)
    assert done is not None and (done.decision, done.decided_by) == ("reject", "review-sweep")
    assert stack.refund_count(rid) == 0
