"""Refund attempts: the record that makes "refund this return" happen at most once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.columns import utcnow
from ledger.errors import LedgerConflictError, LedgerNotFoundError
from ledger.models import RefundAttempt
from ledger.store import Store

RefundStatus = Literal["pending", "succeeded", "already_refunded", "failed"]
DoneStatus = Literal["succeeded", "already_refunded"]
_DONE = ("succeeded", "already_refunded")


def _by_key(session: Session, key: str) -> RefundAttempt:
    """The attempt under ``key``, row-locked for the rest of the transaction."""
    query = select(RefundAttempt).where(RefundAttempt.key == key).with_for_update()
    row = session.scalars(query).first()
    if row is None:
        raise LedgerNotFoundError(f"no refund attempt with key {key!r}")
    return row


class RefundsMixin(Store):
    """Operations on ``refund_attempts``."""

    def begin_refund(
        self, merchant: str, return_id: str, key: str, lines: list[dict[str, Any]]
    ) -> tuple[RefundAttempt, bool]:
        """Claim ``key`` before calling Returnly; returns ``(row, created)``.

        Only the caller that gets ``created=True`` owns a fresh attempt. Others get the
        existing row and decide from its status (done, pending elsewhere, or failed).
        """
        if not key:
            raise ValueError("key is required")
        row = RefundAttempt(
            merchant=merchant,
            return_id=return_id,
            key=key,
            lines=lines,
            status="pending",
            failures=0,
        )
        try:
            with self._write() as session:
                session.add(row)
            return row, True
        except IntegrityError:
            existing = self.get_refund(key)
            if existing is None:
                raise
        if (existing.merchant, existing.return_id) != (merchant, return_id):
            raise LedgerConflictError(
                f"refund key {key!r} belongs to {existing.merchant!r}/{existing.return_id!r}"
            )
        return existing, False

    def complete_refund(
        self,
        key: str,
        refund_id: str | None,
        amount: Decimal | str | int | None,
        status: DoneStatus = "succeeded",
    ) -> RefundAttempt:
        """Record the refund Returnly made (or found already made) for ``key``.

        Repeating the same completion is a no-op; a different refund id for a key that
        is already done is a :class:`LedgerConflictError` (it would mean two refunds).
        """
        if status not in _DONE:
            raise ValueError(f"complete_refund status must be one of {_DONE}: {status!r}")
        with self._write() as session:
            row = _by_key(session, key)
            if row.status in _DONE:
                if row.refund_id != refund_id:
                    raise LedgerConflictError(
                        f"refund {key!r} already done as {row.refund_id!r}, not {refund_id!r}"
                    )
                return row
            now = utcnow()
            row.status = status
            row.refund_id = refund_id
            row.amount = None if amount is None else Decimal(str(amount))
            row.error = None
            row.updated_at = now
            row.completed_at = now
            return row

    def fail_refund(self, key: str, error: str) -> RefundAttempt:
        """Record a failed attempt; a refund already done cannot be marked failed."""
        with self._write() as session:
            row = _by_key(session, key)
            if row.status in _DONE:
                raise LedgerConflictError(f"refund {key!r} is already {row.status}")
            row.status = "failed"
            row.error = error
            row.failures += 1
            row.updated_at = utcnow()
            return row

    def get_refund(self, key: str) -> RefundAttempt | None:
        """The attempt stored under ``key``, or ``None``."""
        with self._read() as session:
            return session.scalars(select(RefundAttempt).where(RefundAttempt.key == key)).first()

    def refunds_for_return(self, merchant: str, return_id: str) -> list[RefundAttempt]:
        """Every refund attempt of a return, oldest first."""
        with self._read() as session:
            query = (
                select(RefundAttempt)
                .where(RefundAttempt.merchant == merchant, RefundAttempt.return_id == return_id)
                .order_by(RefundAttempt.id)
            )
            return list(session.scalars(query))
