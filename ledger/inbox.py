"""The inbox: every inbound message is stored (deduplicated) before it is acknowledged."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.columns import require_aware, utcnow
from ledger.errors import LedgerConflictError, LedgerNotFoundError
from ledger.models import ExceptionRecord, InboxMessage, JsonValue
from ledger.review import ExceptionNote, open_or_count
from ledger.store import Store

InboxStatus = Literal["pending", "emitted", "processed", "failed", "rejected", "dead"]
MarkStatus = Literal["processed", "failed", "emitted"]

SOURCE_RETURNLY = "returnly"
SOURCE_AMS = "ams"
"""The inbox's two sources (its ``source`` column): who sent the webhook."""
MAX_INBOX_ATTEMPTS = 5
"""A message is tried this often (failures, and hand-offs that came to nothing); then the
sweeper dead-letters it."""

DEAD_LETTER_REASON = "inbox_dead_letter"
"""Reason of the review exception a dead-lettered message opens."""

REJECTED_ID_PREFIX = "rejected-"
_COUNTED = ("processed", "failed")  # marks that count as a processing attempt
_REPLAYABLE = ("dead", "failed")


def dead_letter_subject(source: str, message_id: str) -> str:
    """Subject of a dead-lettered message's review exception (one open per message)."""
    return f"inbox:{source}/{message_id}"


class InboxMixin(Store):
    """Operations on ``inbox``."""

    def put_inbox(
        self,
        source: str,
        message_id: str,
        merchant: str,
        kind: str,
        subject_id: str | None,
        payload: JsonValue,
        status: InboxStatus = "pending",
    ) -> tuple[InboxMessage, bool]:
        """Store a message once per (source, message_id); a duplicate returns the first row.

        Returns ``(row, created)``. Concurrent puts of the same id never raise: the unique
        constraint picks one winner and the others read its row.
        """
        if status not in get_args(InboxStatus) or status in ("rejected", "dead"):
            raise ValueError(f"put_inbox takes pending/emitted/processed/failed, not {status!r}")
        if not (source and message_id):
            raise ValueError("source and message_id are required")
        row = InboxMessage(
            source=source,
            message_id=message_id,
            merchant=merchant,
            kind=kind,
            subject_id=subject_id,
            payload=payload,
            status=status,
            attempts=0,
            dispatches=0,
        )
        try:
            with self._write() as session:
                session.add(row)
            return row, True
        except IntegrityError:
            existing = self.get_inbox(source, message_id)
            if existing is None:  # the constraint that failed was not the dedupe key
                raise
            return existing, False

    def reject_inbox(
        self,
        source: str,
        merchant: str,
        kind: str,
        payload: JsonValue,
        reason: str,
        *,
        claimed_message_id: str | None = None,
        subject_id: str | None = None,
    ) -> InboxMessage:
        """Keep a rejected message (bad signature, bad token, unparseable) for review.

        It always gets a generated id: the claimed one is untrusted and, if used, could
        block the genuine message with that id later. The claim is kept on the row.
        """
        row = InboxMessage(
            source=source,
            message_id=f"{REJECTED_ID_PREFIX}{uuid.uuid4().hex}",
            claimed_message_id=claimed_message_id,
            merchant=merchant,
            kind=kind,
            subject_id=subject_id,
            payload=payload,
            status="rejected",
            attempts=0,
            dispatches=0,
            error=reason,
        )
        with self._write() as session:
            session.add(row)
        return row

    def rejected_inbox(
        self, limit: int = 50, *, source: str | None = None, merchant: str | None = None
    ) -> list[InboxMessage]:
        """The most recently rejected requests, newest first (``bridge rejected`` shows them)."""
        if limit <= 0:
            return []
        query = select(InboxMessage).where(InboxMessage.status == "rejected")
        if source is not None:
            query = query.where(InboxMessage.source == source)
        if merchant is not None:
            query = query.where(InboxMessage.merchant == merchant)
        query = query.order_by(InboxMessage.received_at.desc(), InboxMessage.id.desc())
        with self._read() as session:
            return list(session.scalars(query.limit(limit)))

    def get_inbox(self, source: str, message_id: str) -> InboxMessage | None:
        """The message stored under (source, message_id), or ``None``."""
        with self._read() as session:
            return session.scalars(
                select(InboxMessage).where(
                    InboxMessage.source == source, InboxMessage.message_id == message_id
                )
            ).first()

    def pending_inbox(
        self,
        limit: int = 100,
        older_than: datetime | None = None,
        *,
        statuses: Sequence[InboxStatus] = ("pending", "failed"),
        max_attempts: int = MAX_INBOX_ATTEMPTS,
    ) -> list[InboxMessage]:
        """Messages still to process, oldest first.

        ``older_than`` keeps a sweeper off messages that were just handed to a worker.
        Failed messages come back until they have ``max_attempts`` attempts. A sweeper
        that also wants messages emitted to Prefect but never finished passes
        ``statuses=("pending", "failed", "emitted")`` together with ``older_than``.
        """
        if limit <= 0:
            return []
        query = select(InboxMessage).where(
            InboxMessage.status.in_(list(statuses)),
            or_(InboxMessage.status != "failed", InboxMessage.attempts < max_attempts),
        )
        if older_than is not None:
            query = query.where(InboxMessage.received_at < require_aware(older_than, "older_than"))
        query = query.order_by(InboxMessage.received_at, InboxMessage.id).limit(limit)
        with self._read() as session:
            return list(session.scalars(query))

    def mark_inbox(
        self,
        source: str | None,
        message_id: str,
        status: MarkStatus,
        error: str | None = None,
        *,
        expect: InboxStatus | None = None,
    ) -> InboxMessage:
        """Record what happened to a message; ``processed``/``failed`` count as an attempt,
        ``emitted`` counts a hand-off.

        ``source`` first, as in the other inbox methods; ``None`` finds the id in any source (an
        error when two sources share it). ``expect``: change
        nothing and raise :class:`LedgerConflictError` unless the row is in that status.
        A dead-lettered row stays dead unless it is marked ``processed`` (a late success).
        """
        if status not in get_args(MarkStatus):
            raise ValueError(f"mark_inbox status must be processed/failed/emitted: {status!r}")
        filters: list[Any] = [InboxMessage.message_id == message_id]
        if source is not None:
            filters.append(InboxMessage.source == source)
        with self._write() as session:
            query = select(InboxMessage).where(*filters).limit(2).with_for_update()
            rows = session.scalars(query).all()
            if not rows:
                raise LedgerNotFoundError(f"no inbox message {message_id!r}")
            if len(rows) > 1:
                raise LedgerConflictError(f"inbox id {message_id!r} is ambiguous: pass source")
            row = rows[0]
            if expect is not None and row.status != expect:
                raise LedgerConflictError(f"inbox {message_id!r} is {row.status}, not {expect}")
            now = utcnow()
            if row.status != "dead" or status == "processed":
                row.status = status
                row.error = error
            row.updated_at = now
            if status in _COUNTED:
                row.attempts += 1
            if status == "emitted":
                row.dispatches += 1
            if status == "processed":
                row.processed_at = now
            return row

    def claim_inbox(self, source: str, message_id: str, run_id: str) -> InboxMessage | None:
        """Note the flow run now handling a message (event dispatch); ``None`` if unknown.

        The sweeper then asks that run's state instead of guessing from the row's age.
        """
        with self._write() as session:
            row = _one(session, source, message_id)
            if row is None:
                return None
            if row.status not in ("processed", "rejected"):
                row.run_id = run_id
                row.updated_at = utcnow()
            return row

    def dead_letter_inbox(self, source: str, message_id: str, reason: str) -> InboxMessage:
        """Give up on a message: status ``dead`` and an open ``inbox_dead_letter`` exception.

        Operators see it with the other review exceptions (and ``bridge inbox list``);
        :meth:`replay_inbox` puts it back in the queue.
        """
        with self._write() as session:
            row = _one(session, source, message_id)
            if row is None:
                raise LedgerNotFoundError(f"no inbox message {source}/{message_id}")
            if row.status in ("processed", "rejected"):
                raise LedgerConflictError(f"inbox {source}/{message_id} is {row.status}")
            last_error = row.error
            row.status = "dead"
            row.error = reason
            row.updated_at = utcnow()
            note = ExceptionNote(
                DEAD_LETTER_REASON,
                f"inbox {source}/{message_id} dead-lettered: {reason}",
                {
                    "source": source,
                    "message_id": message_id,
                    "kind": row.kind,
                    "subject_id": row.subject_id,
                    "attempts": row.attempts,
                    "dispatches": row.dispatches,
                    "run_id": row.run_id,
                    "last_error": last_error,
                },
                return_id=row.subject_id if source == SOURCE_RETURNLY else None,
                stage="inbox",
                source=source,
                subject=dead_letter_subject(source, message_id),
            )
            open_or_count(session, row.merchant, note)
            return row

    def replay_inbox(self, source: str, message_id: str, by: str | None = None) -> InboxMessage:
        """Put a dead (or failed) message back in the queue with a fresh attempt budget.

        It becomes ``pending``, so the next sweep dispatches it; its open dead-letter
        exception is resolved. The hand-off count is kept: new events get new ids.
        """
        with self._write() as session:
            row = _one(session, source, message_id)
            if row is None:
                raise LedgerNotFoundError(f"no inbox message {source}/{message_id}")
            if row.status not in _REPLAYABLE:
                raise LedgerConflictError(
                    f"inbox {source}/{message_id} is {row.status}; only dead or failed replay"
                )
            now = utcnow()
            row.status, row.attempts, row.run_id, row.updated_at = "pending", 0, None, now
            row.error = f"replayed{f' by {by}' if by else ''} after: {row.error}"
            subject = dead_letter_subject(source, message_id)
            for open_row in session.scalars(
                select(ExceptionRecord)
                .where(
                    ExceptionRecord.reason == DEAD_LETTER_REASON,
                    ExceptionRecord.subject == subject,
                    ExceptionRecord.status == "open",
                )
                .with_for_update()
            ):
                open_row.status, open_row.open_fingerprint = "resolved", None
                open_row.note, open_row.resolved_by, open_row.resolved_at = "replayed", by, now
            return row

    def list_inbox(
        self,
        status: InboxStatus | None = None,
        merchant: str | None = None,
        limit: int = 100,
    ) -> list[InboxMessage]:
        """Inbox rows (optionally of one status and merchant), newest first."""
        query = select(InboxMessage)
        if status is not None:
            query = query.where(InboxMessage.status == status)
        if merchant is not None:
            query = query.where(InboxMessage.merchant == merchant)
        query = query.order_by(InboxMessage.updated_at.desc(), InboxMessage.id.desc())
        with self._read() as session:
            return list(session.scalars(query.limit(limit)))


def _one(session: Session, source: str, message_id: str) -> InboxMessage | None:
    """The row of (source, message_id), locked for update."""
    return session.scalars(
        select(InboxMessage)
        .where(InboxMessage.source == source, InboxMessage.message_id == message_id)
        .with_for_update()
    ).first()
