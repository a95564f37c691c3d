"""Approve or reject a held refund from a deployment form (``review-decide/approve|reject``).

The decision goes to the held refund's suspended review run exactly as its own Resume form
would send it; only when no run waits (never started, or already gone) is it recorded and
applied in this run, through the same leased refund path.
"""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger

from flows.common import tag_run_with_merchants
from tasks.review_queue import DecideResult, HeldRefundReview, decide_held


@flow(name="review-decide", flow_run_name="review-{decision}-{merchant}-{exception_id}")
def review_decide(
    merchant: str,
    exception_id: int,
    reviewer: str,
    decision: Literal["approve", "reject"] = "approve",
    deduction_amount: float = 0.0,
    note: str = "",
) -> DecideResult:
    """Approve (optionally with a deduction) or reject one refund held for review.

    Args:
        merchant: The merchant's name.
        exception_id: The held refund's id in the review queue (``bridge review list``).
        reviewer: Who decides (recorded in the ledger with the time).
        decision: ``approve`` refunds the held units now; ``reject`` refunds nothing.
        deduction_amount: Withheld from an approved refund (e.g. 12.50); 0 for none.
        note: Why; kept with the decision.
    """
    tag_run_with_merchants([merchant])
    answer = HeldRefundReview(
        decision=decision, deduction_amount=deduction_amount, reviewer=reviewer, note=note
    )
    result = decide_held(merchant, exception_id, answer)
    get_run_logger().info("exception %s: %s", exception_id, result.model_dump())
    return result
