"""Review steps: apply a person's decision on a held refund; build the queue's rows.

An approval is a refund like any other: :func:`stages.completion.complete_return` with the
holds lifted, so it takes the ``refund:<return id>`` lease, re-reads the Returnly return
under it, posts once and reads back after an ambiguous failure. A decision is recorded in the
ledger (who, when, what) before anything is posted, and applying it again (a retried task, a
second reviewer's same answer) settles from what Returnly shows instead of posting again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from clients.ams import AmsClient
from core.mapping import customer_identifier_for
from core.merchant import MerchantConfig
from core.refunds import RefundApproval
from core.review import QueueItem
from ledger import ExceptionRecord, HeldReview, Ledger, LedgerNotFoundError, StageNote
from platforms import PlatformLike
from stages import names
from stages.completion import complete_return
from stages.outcomes import ReturnOutcome

logger = logging.getLogger(__name__)

CLOSING_OUTCOMES = frozenset({"refunded", "already_done"})
"""Approval outcomes that settle the held refund (anything else leaves it open)."""


class ReviewBusyError(RuntimeError):
    """Another run holds the return's refund lease; try the approval again shortly."""


def review_deadline(merchant: MerchantConfig, since: datetime) -> datetime:
    """When the merchant's default decision applies to a review opened at ``since``."""
    return since + timedelta(hours=merchant.policy.held_review_timeout_hours)


def start_review(
    ledger: Ledger, merchant: MerchantConfig, exception: ExceptionRecord
) -> tuple[HeldReview, bool]:
    """The review row of a held-refund exception (created when missing)."""
    deadline = review_deadline(merchant, exception.created_at)
    return ledger.start_held_review(exception, deadline, merchant.policy.held_review_default)


def apply_decision(
    merchant: MerchantConfig,
    exception_id: int,
    *,
    ledger: Ledger,
    returnly: PlatformLike,
    ams: AmsClient,
) -> HeldReview:
    """Carry out the decision recorded for a held refund; the finished review row.

    Approve: the refund through the leased completion path (holds lifted, the reviewer's
    deduction taken); the exception closes once Returnly shows the refund. Reject and
    resolve: nothing is posted, the exception closes. Raises :class:`ReviewBusyError` while
    another run holds the refund lease.
    """
    row = ledger.get_held_review(exception_id)
    if row is None:
        raise LedgerNotFoundError(f"no review for exception {exception_id}")
    if row.status == "done":
        return row
    if row.status != "decided" or row.decision is None:
        raise ValueError(f"exception {exception_id} has no decision yet")
    who = row.decided_by or "?"
    if row.decision == "approve":
        approval = RefundApproval(
            deduction_amount=row.deduction_amount or Decimal("0.00"), approved_by=who
        )
        outcome = complete_return(
            merchant, row.return_id, ledger=ledger, returnly=returnly, ams=ams, approval=approval
        )
        if outcome.outcome == "busy":
            raise ReviewBusyError(f"return {row.return_id}: {outcome.detail}")
        return _finish_approval(ledger, row, outcome)
    note = "not refunded" if row.decision == "reject" else "closed without a refund"
    ledger.upsert_link(
        merchant.name,
        row.return_id,
        customer_identifier_for(row.return_id),
        history=StageNote("review", row.decision, {"by": who}),
    )
    logger.info("held refund of %s %sed by %s: %s", row.return_id, row.decision, who, note)
    return ledger.finish_held_review(exception_id, note, close=True)


def _finish_approval(ledger: Ledger, row: HeldReview, outcome: ReturnOutcome) -> HeldReview:
    text = f"{outcome.outcome}: {outcome.detail}" if outcome.detail else outcome.outcome
    close = outcome.outcome in CLOSING_OUTCOMES
    if not close:
        logger.warning("approval of %s not applied: %s", row.return_id, text)
    return ledger.finish_held_review(row.exception_id, text, close=close)


def queue_items(ledger: Ledger, merchant: str) -> list[QueueItem]:
    """The merchant's open exceptions with their RMA numbers and review runs (3 queries)."""
    open_rows = ledger.list_exceptions(merchant)
    rids = sorted({r.return_id for r in open_rows if r.return_id})
    rmas = {lk.return_id: lk.rma_number for lk in ledger.links_for(merchant, return_ids=rids)}
    reviews = {r.exception_id: r for r in ledger.held_reviews(merchant, ("waiting", "decided"))}
    items = []
    for r in open_rows:
        review = reviews.get(r.id)
        items.append(
            QueueItem(
                id=r.id,
                merchant=r.merchant,
                reason=r.reason,
                message=r.message,
                return_id=r.return_id,
                rma=rmas.get(r.return_id) if r.return_id else None,
                stage=r.stage,
                occurrences=r.occurrences,
                created_at=r.created_at,
                review_run=review.flow_run_id if review else None,
                deadline=review.deadline if review else None,
            )
        )
    return items


_SETTLED_STAGES: dict[str, frozenset[str]] = {
    "intake": names.INTAKE_DONE_STAGES | {names.CANCELLED},
    "arrival": frozenset(
        {names.RECEIVED, names.REFUNDED, names.PARTIALLY_REFUNDED, names.HELD, names.CANCELLED}
    ),
    "completion": frozenset({names.REFUNDED, names.PARTIALLY_REFUNDED, names.CANCELLED}),
}


def retry_settled(exception_stage: str | None, link_stage: str | None, seen_again: bool) -> bool:
    """After a retry: is the exception's problem gone (not seen again, return moved on)?"""
    if seen_again or exception_stage is None or link_stage is None:
        return False
    return link_stage in _SETTLED_STAGES.get(exception_stage, frozenset())
