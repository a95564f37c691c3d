"""The demo's last act: a person approves one held refund and rejects another in Prefect.

Both go through the held refunds' suspended ``review-held-refund`` runs, resumed with the same
run input (and the same API call) as the UI's Resume form; the demo then checks the Returnly
sandbox (approved: exactly one refund; rejected: none) and the ledger (both closed, who, when).
"""

from __future__ import annotations

import logging
import time
from typing import Literal
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from pydantic import BaseModel

from deployments.demo_runs import DeploymentRunError
from ledger import HeldReview, Ledger
from stages import names
from tasks.review_queue import HeldRefundReview, send_decision

logger = logging.getLogger(__name__)
Decision = Literal["approve", "reject"]
REVIEWER = "demo-operator"
FINAL = {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}


class ReviewedRefund(BaseModel):
    """One held refund the demo decided, and what the systems show afterwards."""

    exception_id: int
    return_id: str
    decision: str
    flow_run: str
    run_state: str
    refunds_before: int
    refunds_in_returnly: int
    exception_status: str
    decided_by: str | None
    outcome: str | None

    def line(self) -> str:
        """One summary line."""
        return (
            f"exception {self.exception_id} (return {self.return_id}): {self.decision} by "
            f"{self.decided_by} in run {self.flow_run} ({self.run_state}); Returnly refunds "
            f"{self.refunds_before} -> {self.refunds_in_returnly}; exception "
            f"{self.exception_status}; {self.outcome}"
        )


class DemoReviewError(DeploymentRunError):
    """The review step did not end as it must."""


def _candidates(ledger: Ledger, merchant: str) -> tuple[list[HeldReview], list[HeldReview]]:
    """Waiting reviews with a run: those whose return shows no refund yet (Returnly takes one
    refund per return, so only those can be approved into a refund), and the others."""
    fresh: list[HeldReview] = []
    partly: list[HeldReview] = []
    for review in ledger.held_reviews(merchant, "waiting"):
        link = ledger.get_link(merchant, return_id=review.return_id)
        if review.flow_run_id is None or link is None:
            continue
        (fresh if link.stage == names.HELD else partly).append(review)
    return fresh, partly


def _pick(ledger: Ledger, merchant: str) -> list[tuple[HeldReview, Decision]]:
    """(review, decision): approve one with no refund yet, reject another."""
    fresh, partly = _candidates(ledger, merchant)
    picks: list[tuple[HeldReview, Decision]] = []
    if fresh:
        picks.append((fresh[0], "approve"))
    rest = fresh[1:] + partly
    if rest:
        picks.append((rest[0], "reject"))
    return picks


def _wait_suspended(runs: list[UUID], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        for run_id in runs:
            while True:
                run = client.read_flow_run(run_id)
                if run.state is not None and run.state.is_paused():
                    break
                if time.monotonic() > deadline:
                    raise DemoReviewError(f"review run {run.name} never suspended")
                time.sleep(1.0)


def _refunds(returnly_url: str, return_id: str) -> int:
    reply = httpx.get(f"{returnly_url}/_admin/returns/{return_id}/refunds", timeout=30)
    return int(reply.json()["count"])


def decide_two_held_refunds(
    ledger: Ledger, merchant: str, returnly_url: str, timeout: float
) -> list[ReviewedRefund]:
    """Approve the oldest suspended held refund, reject the next; check both afterwards.

    The approved return must show exactly one new refund in Returnly, the rejected one none.
    A small demo may hold fewer than two refunds: then it decides what there is.
    """
    picks = _pick(ledger, merchant)
    if not picks:
        logger.warning("no held refund to decide (no return was received damaged)")
        return []
    _wait_suspended([UUID(r.flow_run_id or "") for r, _ in picks], timeout)
    before = {r.return_id: _refunds(returnly_url, r.return_id) for r, _ in picks}
    for review, decision in picks:
        answer = HeldRefundReview(decision=decision, reviewer=REVIEWER, note="decided in the demo")
        send_decision(UUID(review.flow_run_id or ""), answer)
    done: list[ReviewedRefund] = []
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        for review, decision in picks:
            while True:
                run = client.read_flow_run(UUID(review.flow_run_id or ""))
                if run.state_type in FINAL or time.monotonic() > deadline:
                    break
                time.sleep(1.0)
            count = _refunds(returnly_url, review.return_id)
            exc = ledger.get_exception(review.exception_id)
            after = ledger.get_held_review(review.exception_id)
            done.append(
                ReviewedRefund(
                    exception_id=review.exception_id,
                    return_id=review.return_id,
                    decision=decision,
                    flow_run=run.name,
                    run_state=run.state_name or "?",
                    refunds_before=before[review.return_id],
                    refunds_in_returnly=count,
                    exception_status=exc.status if exc else "missing",
                    decided_by=after.decided_by if after else None,
                    outcome=after.outcome if after else None,
                )
            )
    added = {"approve": 1, "reject": 0}  # refunds the decision adds in Returnly
    if not all(
        d.refunds_in_returnly - d.refunds_before == added[d.decision]
        and d.exception_status == "resolved"
        and d.decided_by == REVIEWER
        and d.run_state == "Completed"
        for d in done
    ):
        raise DemoReviewError("; ".join(d.line() for d in done))
    return done
