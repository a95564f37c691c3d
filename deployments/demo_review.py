"""The demo's last act: a person approves one held refund and rejects another in Prefect.

Both go through the held refunds' suspended ``review-held-refund`` runs, resumed with the same
run input (and the same API call) as the UI's Resume form; the demo then checks the Returnly
sandbox (approved: exactly one refund; rejected: none) and the ledger (both closed, who, when).
"""

from __future__ import annotations

import logging
import time
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from pydantic import BaseModel

from deployments.demo_runs import DeploymentRunError
from ledger import HeldReview, Ledger
from tasks import stages
from tasks.review_queue import HeldRefundReview, send_decision

logger = logging.getLogger(__name__)
REVIEWER = "demo-operator"
FINAL = {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}


class ReviewedRefund(BaseModel):
    """One held refund the demo decided, and what the systems show afterwards."""

    exception_id: int
    return_id: str
    decision: str
    flow_run: str
    run_state: str
    refunds_in_returnly: int
    exception_status: str
    decided_by: str | None
    outcome: str | None

    def line(self) -> str:
        """One summary line."""
        return (
            f"exception {self.exception_id} (return {self.return_id}): {self.decision} by "
            f"{self.decided_by} in run {self.flow_run} ({self.run_state}); Returnly refunds: "
            f"{self.refunds_in_returnly}; exception {self.exception_status}; {self.outcome}"
        )


class DemoReviewError(DeploymentRunError):
    """The review step did not end as it must."""


def _candidates(ledger: Ledger, merchant: str) -> list[HeldReview]:
    """Waiting reviews of returns with no refund yet (Returnly takes one refund per return)."""
    out = []
    for review in ledger.held_reviews(merchant, "waiting"):
        link = ledger.get_link(merchant, return_id=review.return_id)
        if review.flow_run_id is not None and link is not None and link.stage == stages.HELD:
            out.append(review)
    return out


def _suspended(ledger: Ledger, merchant: str, want: int, timeout: float) -> list[HeldReview]:
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            found = []
            for review in _candidates(ledger, merchant):
                run = client.read_flow_run(UUID(review.flow_run_id or ""))
                if run.state is not None and run.state.is_paused():
                    found.append(review)
                if len(found) == want:
                    return found
            if time.monotonic() > deadline:
                raise DemoReviewError(f"fewer than {want} held refunds waiting in a suspended run")
            time.sleep(1.0)


def decide_two_held_refunds(
    ledger: Ledger, merchant: str, returnly_url: str, timeout: float
) -> list[ReviewedRefund]:
    """Approve the oldest suspended held refund, reject the next; check both afterwards.

    A small demo may hold fewer than two refunds: then it decides what there is.
    """
    want = min(2, len(_candidates(ledger, merchant)))
    if want == 0:
        logger.warning("no held refund to decide (too few returns received damaged)")
        return []
    reviews = _suspended(ledger, merchant, want, timeout)
    decisions = ("approve", "reject")[:want]
    for review, decision in zip(reviews, decisions, strict=True):
        answer = HeldRefundReview(decision=decision, reviewer=REVIEWER, note="decided in the demo")
        send_decision(UUID(review.flow_run_id or ""), answer)
    done: list[ReviewedRefund] = []
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        for review, decision in zip(reviews, decisions, strict=True):
            while True:
                run = client.read_flow_run(UUID(review.flow_run_id or ""))
                if run.state_type in FINAL or time.monotonic() > deadline:
                    break
                time.sleep(1.0)
            count = httpx.get(
                f"{returnly_url}/_admin/returns/{review.return_id}/refunds", timeout=30
            ).json()["count"]
            exc = ledger.get_exception(review.exception_id)
            after = ledger.get_held_review(review.exception_id)
            done.append(
                ReviewedRefund(
                    exception_id=review.exception_id,
                    return_id=review.return_id,
                    decision=decision,
                    flow_run=run.name,
                    run_state=run.state_name or "?",
                    refunds_in_returnly=int(count),
                    exception_status=exc.status if exc else "missing",
                    decided_by=after.decided_by if after else None,
                    outcome=after.outcome if after else None,
                )
            )
    expected = {"approve": 1, "reject": 0}
    if not all(
        d.refunds_in_returnly == expected[d.decision]
        and d.exception_status == "resolved"
        and d.decided_by == REVIEWER
        and d.run_state == "Completed"
        for d in done
    ):
        raise DemoReviewError("; ".join(d.line() for d in done))
    return done
