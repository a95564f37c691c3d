"""Refunds held for review: who decided what, when, and what applying it did.

A held-refund exception gets one ``held_reviews`` row when its review starts. A decision moves
the row from ``waiting`` to ``decided`` exactly once (the same decision again is a no-op, a
different one a conflict), so two reviewers, or the UI form and the shell, cannot both win.
Applying it ends in ``done`` and closes the exception in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.columns import utcnow
from ledger.errors import LedgerConflictError, LedgerNotFoundError
from ledger.models import ExceptionRecord, HeldReview
from ledger.store import Store

HELD_REASON_PREFIX = "held:"
"""Exceptions of refunds held for review have reasons ``held:<reason>[,<reason>]``."""
ReviewDecision = Literal["approve", "reject", "resolve"]
HeldReviewStatus = Literal["waiting", "decided", "done"]


def is_held_refund(reason: str) -> bool:
    """True for the exceptions a reviewer approves or rejects."""
    return reason.startswith(HELD_REASON_PREFIX)


class HeldReviewMixin(Store):
    """Operations on ``held_reviews``."""

    def held_without_review(self, merchant: str) -> list[ExceptionRecord]:
        """Open held-refund exceptions whose review has not started, oldest first."""
        reviewed = select(HeldReview.exception_id)
        query = (
            select(ExceptionRecord)
            .where(ExceptionRecord.merchant == merchant)
            .where(ExceptionRecord.status == "open")
            .where(ExceptionRecord.reason.startswith(HELD_REASON_PREFIX))
            .where(ExceptionRecord.id.not_in(reviewed))
            .order_by(ExceptionRecord.id)
        )
        with self._read() as session:
            return list(session.scalars(query))

    def start_held_review(
        self, exception: ExceptionRecord, deadline: datetime, default_action: str
    ) -> tuple[HeldReview, bool]:
        """The review row of a held-refund exception, created when missing: ``(row, created)``."""
        if not is_held_refund(exception.reason) or exception.return_id is None:
            raise ValueError(f"exception {exception.id} is not a held refund")
        return_id = exception.return_id

        def attempt() -> tuple[HeldReview, bool]:
            with self._write() as session:
                row = session.scalars(
                    select(HeldReview).where(HeldReview.exception_id == exception.id)
                ).first()
                if row is not None:
                    return row, False
                row = HeldReview(
                    exception_id=exception.id,
                    merchant=exception.merchant,
                    return_id=return_id,
                    status="waiting",
                    deadline=deadline,
                    default_action=default_action,
                )
                session.add(row)
                session.flush()
                return row, True

        return self._retry_race(attempt)

    def set_review_run(self, exception_id: int, flow_run_id: str) -> HeldReview:
        """Remember the flow run that waits for this review's decision."""
        with self._write() as session:
            row = self._review_row(session, exception_id)
            row.flow_run_id = flow_run_id
            row.updated_at = utcnow()
            return row

    def get_held_review(self, exception_id: int) -> HeldReview | None:
        """The review of one held-refund exception, or ``None``."""
        with self._read() as session:
            return session.scalars(
                select(HeldReview).where(HeldReview.exception_id == exception_id)
            ).first()

    def held_reviews(
        self,
        merchant: str | None = None,
        status: HeldReviewStatus | Sequence[HeldReviewStatus] | None = None,
    ) -> list[HeldReview]:
        """Reviews, optionally of one merchant and in some statuses, oldest first."""
        query = select(HeldReview)
        if merchant is not None:
            query = query.where(HeldReview.merchant == merchant)
        if isinstance(status, str):
            query = query.where(HeldReview.status == status)
        elif status is not None:
            query = query.where(HeldReview.status.in_(list(status)))
        with self._read() as session:
            return list(session.scalars(query.order_by(HeldReview.id)))

    def overdue_held_reviews(self, now: datetime | None = None) -> list[HeldReview]:
        """Waiting reviews past their deadline whose merchant default is not ``keep_open``."""
        query = (
            select(HeldReview)
            .where(HeldReview.status == "waiting")
            .where(HeldReview.deadline <= (now or utcnow()))
            .where(HeldReview.default_action != "keep_open")
            .order_by(HeldReview.id)
        )
        with self._read() as session:
            return list(session.scalars(query))

    def decide_held_review(
        self,
        exception_id: int,
        decision: ReviewDecision,
        by: str,
        *,
        deduction_amount: Decimal | None = None,
        note: str | None = None,
    ) -> HeldReview:
        """Record a decision once; the same decision again returns the recorded one.

        Raises :class:`LedgerConflictError` when another decision was recorded first.
        """
        if not by:
            raise ValueError("a decision needs the name of who made it")
        with self._write() as session:
            row = self._review_row(session, exception_id)
            if row.status != "waiting":
                same = row.decision == decision and (row.deduction_amount or 0) == (
                    deduction_amount or 0
                )
                if same:
                    return row
                raise LedgerConflictError(
                    f"exception {exception_id} was already decided: {row.decision} by "
                    f"{row.decided_by} at {row.decided_at:%Y-%m-%d %H:%M:%S}Z"
                )
            row.status = "decided"
            row.decision = decision
            row.deduction_amount = deduction_amount
            row.decided_by = by
            row.decided_at = row.updated_at = utcnow()
            row.note = note
            return row

    def finish_held_review(self, exception_id: int, outcome: str, *, close: bool) -> HeldReview:
        """Record what applying the decision did; ``close`` also closes the exception."""
        with self._write() as session:
            row = self._review_row(session, exception_id)
            if row.status == "waiting":
                raise LedgerConflictError(f"exception {exception_id} has no decision yet")
            row.status = "done"
            row.outcome = outcome
            row.updated_at = utcnow()
            exc = session.get(ExceptionRecord, exception_id, with_for_update=True)
            if close and exc is not None and exc.status == "open":
                exc.status = "resolved"
                exc.open_fingerprint = None
                exc.note = "; ".join(p for p in (f"{row.decision}: {outcome}", row.note) if p)
                exc.resolved_by = row.decided_by
                exc.resolved_at = row.decided_at
            return row

    @staticmethod
    def _review_row(session: Session, exception_id: int) -> HeldReview:
        row = session.scalars(
            select(HeldReview).where(HeldReview.exception_id == exception_id).with_for_update()
        ).first()
        if row is None:
            raise LedgerNotFoundError(f"no review for exception {exception_id}")
        return row
