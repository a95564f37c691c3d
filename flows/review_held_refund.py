"""One refund held for review, waiting for a person inside Prefect.

Started (one run per held refund, by :func:`tasks.review_queue.start_held_reviews`) after the
stage that held it. The run **suspends** on :class:`~tasks.review_queue.HeldRefundReview`: the
process exits and the worker slot is free while a person takes hours or days, and the UI shows
the run's Resume form. Resuming reschedules the run; it starts again from the top, finds the
same suspend key already used and gets the submitted input back, records the decision (who,
when, what) in the ledger and applies it: an approval through the leased, read-under-lease
refund path, so it is posted once whatever is retried.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.context import FlowRunContext
from prefect.flow_runs import suspend_flow_run
from pydantic import BaseModel

from flows.common import tag_run_with_merchants
from ledger import HeldReview, LedgerConflictError
from runtime import get_ledger, load_merchant
from stages.review import start_review
from tasks.review import apply_review_decision
from tasks.review_queue import HeldRefundReview, publish_review_queue


class HeldReviewResult(BaseModel):
    """How a held refund's review ended."""

    exception_id: int
    return_id: str
    decision: str | None
    decided_by: str | None
    outcome: str | None


def _form_description(review: HeldReview, message: str, rma: str | None) -> str:
    return (
        f"### Refund held for review: return {review.return_id}\n\n"
        f"- RMA: {rma or 'unknown'}\n- what happened: {message}\n"
        f"- if nobody decides by {review.deadline:%Y-%m-%d %H:%M} UTC: "
        f"**{review.default_action}**\n\n"
        "**approve** refunds the held units now (less `deduction_amount`, if any); "
        "**reject** refunds nothing. Either closes the exception in the review queue."
    )


@flow(name="review-held-refund", flow_run_name="review-{merchant}-{exception_id}")
def review_held_refund(merchant: str, exception_id: int) -> HeldReviewResult:
    """Wait (suspended) for a person to approve or reject one held refund, then apply it.

    Args:
        merchant: The merchant's name.
        exception_id: The held refund's exception id in the review queue.
    """
    logger = get_run_logger()
    config = load_merchant(merchant)
    tag_run_with_merchants([merchant])
    ledger = get_ledger()
    exc = ledger.get_exception(exception_id)
    if exc is None or exc.merchant != merchant:
        raise ValueError(f"no exception {exception_id} for merchant {merchant}")
    review = start_review(ledger, config, exc)[0]
    ctx = FlowRunContext.get()
    if ctx is not None and ctx.flow_run is not None and review.flow_run_id is None:
        review = ledger.set_review_run(exception_id, str(ctx.flow_run.id))
    if review.status == "waiting" and exc.status == "open":
        link = ledger.get_link(merchant, return_id=review.return_id)
        form = HeldRefundReview.with_initial_data(
            description=_form_description(review, exc.message, link.rma_number if link else None),
            decision="approve",
        )
        # No Prefect timeout: the merchant's deadline and default are applied by review-sweep
        # (an expired Prefect pause would fail the run and page whoever gets run alerts).
        answer = suspend_flow_run(wait_for_input=form, key=f"held-review-{exception_id}")
        try:
            review = ledger.decide_held_review(
                exception_id,
                answer.decision,
                answer.reviewer,
                deduction_amount=answer.deduction(),
                note=answer.note or None,
            )
        except LedgerConflictError as err:
            logger.warning("decision from the form not recorded: %s", err)
            review = ledger.get_held_review(exception_id) or review
    if review.status == "decided":
        review = apply_review_decision(merchant, exception_id)
    logger.info(
        "held refund %s of return %s: %s by %s -> %s",
        exception_id,
        review.return_id,
        review.decision,
        review.decided_by,
        review.outcome,
    )
    publish_review_queue(merchant, force=True)
    return HeldReviewResult(
        exception_id=exception_id,
        return_id=review.return_id,
        decision=review.decision,
        decided_by=review.decided_by,
        outcome=review.outcome,
    )
