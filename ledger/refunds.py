"""Refund attempts: the record that makes "refund this return" happen at most once."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal, NamedTuple

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ledger.columns import utcnow
from ledger.errors import LedgerConflictError, LedgerNotFoundError
from ledger.links import LinkChange, apply_link_changes
from ledger.models import RefundAttempt
from ledger.store import Store

RefundStatus = Literal["pending", "succeeded", "already_refunded", "failed"]
DoneStatus = Literal["succeeded", "already_refunded"]
DONE_STATUSES: tuple[DoneStatus, ...] = ("succeeded", "already_refunded")
"""Statuses of an attempt whose refund exists in Returnly."""


class RefundClaim(NamedTuple):
    """A refund about to be requested: which return, under which key, for which lines."""

    return_id: str
    key: str
    lines: list[dict[str, Any]]


class RefundDone(NamedTuple):
    """A refund Returnly made (or already had) for ``key``, and the link change it brings."""

    key: str
    refund_id: str | None
    amount: Decimal | str | int | None
    status: DoneStatus = "succeeded"
    link: LinkChange | None = None


def _claim_values(merchant: str, claim: RefundClaim) -> dict[str, Any]:
    now = utcnow()
    return {
        "merchant": merchant,
        "return_id": claim.return_id,
        "key": claim.key,
        "lines": claim.lines,
        "status": "pending",
        "failures": 0,
        "created_at": now,
        "updated_at": now,
    }


def _check_owner(merchant: str, claim: RefundClaim, row: RefundAttempt) -> None:
    if (row.merchant, row.return_id) != (merchant, claim.return_id):
        raise LedgerConflictError(
            f"refund key {claim.key!r} belongs to {row.merchant!r}/{row.return_id!r}"
        )


def _mark_done(row: RefundAttempt, done: RefundDone) -> bool:
    """Apply ``done`` to ``row``; ``False`` when the row is already done with another refund."""
    if done.status not in DONE_STATUSES:
        raise ValueError(f"complete_refund status must be one of {DONE_STATUSES}: {done.status!r}")
    if row.status in DONE_STATUSES:
        if row.refund_id != done.refund_id:
            return False
        if done.status == "succeeded" and row.status == "already_refunded":
            # A concurrent run saw our refund first and filed it as found; it was ours.
            row.status = "succeeded"
            row.updated_at = utcnow()
        return True
    now = utcnow()
    row.status = done.status
    row.refund_id = done.refund_id
    row.amount = None if done.amount is None else Decimal(str(done.amount))
    row.error = None
    row.updated_at = now
    row.completed_at = now
    return True


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
        return self.begin_refunds(merchant, [RefundClaim(return_id, key, lines)])[0]

    def begin_refunds(
        self, merchant: str, claims: Sequence[RefundClaim]
    ) -> list[tuple[RefundAttempt, bool]]:
        """:meth:`begin_refund` for a batch, in one transaction; results in ``claims`` order."""
        if not all(c.key for c in claims):
            raise ValueError("key is required")

        def attempt() -> list[tuple[RefundAttempt, bool]]:
            with self._write() as session:
                keys = [c.key for c in claims]
                query = select(RefundAttempt).where(RefundAttempt.key.in_(keys))
                existing = {row.key: row for row in session.scalars(query)}
                new: dict[str, dict[str, Any]] = {}
                created: list[bool] = []  # per claim: the first claim of a key not yet stored
                for claim in claims:
                    found = existing.get(claim.key)
                    fresh = found is None and claim.key not in new
                    if found is not None:
                        _check_owner(merchant, claim, found)
                    elif fresh:
                        new[claim.key] = _claim_values(merchant, claim)
                    elif new[claim.key]["return_id"] != claim.return_id:
                        raise LedgerConflictError(
                            f"refund key {claim.key!r} claimed for two returns in one batch"
                        )
                    created.append(fresh)
                if new:  # one insert that answers the rows (ids included), not one flush each
                    claimed = insert(RefundAttempt).returning(RefundAttempt)
                    for row in session.scalars(claimed, list(new.values())):
                        existing[row.key] = row
                return [
                    (existing[claim.key], fresh)
                    for claim, fresh in zip(claims, created, strict=True)
                ]

        return self._retry_race(attempt) if claims else []

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
        return self.finish_refunds("", [RefundDone(key, refund_id, amount, status)])[0]  # no link

    def finish_refunds(self, merchant: str, results: Sequence[RefundDone]) -> list[RefundAttempt]:
        """Record a batch of refunds and their link changes in one transaction.

        A key already done under another refund id is a :class:`LedgerConflictError`,
        raised after the others are saved: one bad record never loses the rest.
        """
        conflicts: list[str] = []

        def attempt() -> list[RefundAttempt]:
            conflicts.clear()
            with self._write() as session:
                keys = [done.key for done in results]
                query = select(RefundAttempt).where(RefundAttempt.key.in_(keys)).with_for_update()
                by_key = {row.key: row for row in session.scalars(query)}
                rows, links = [], []
                for done in results:
                    row = by_key.get(done.key)
                    if row is None:
                        raise LedgerNotFoundError(f"no refund attempt with key {done.key!r}")
                    if not _mark_done(row, done):
                        conflicts.append(
                            f"refund {done.key!r} already done as {row.refund_id!r}, "
                            f"not {done.refund_id!r}"
                        )
                    elif done.link is not None:
                        links.append(done.link)
                    rows.append(row)
                apply_link_changes(session, merchant, links, bulk=True)
                return rows

        rows = self._retry_race(attempt) if results else []
        if conflicts:
            raise LedgerConflictError("; ".join(conflicts))
        return rows

    def fail_refund(self, key: str, error: str) -> RefundAttempt:
        """Record a failed attempt; a refund already done cannot be marked failed."""
        with self._write() as session:
            row = _by_key(session, key)
            if row.status in DONE_STATUSES:
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
