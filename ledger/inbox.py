"""The inbox: every inbound message is stored (deduplicated) before it is acknowledged."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from ledger.columns import require_aware, utcnow
from ledger.errors import LedgerConflictError, LedgerNotFoundError
from ledger.models import InboxMessage, JsonValue
from ledger.store import Store

InboxStatus = Literal["pending", "emitted", "processed", "failed", "rejected"]
MarkStatus = Literal["processed", "failed", "emitted"]

MAX_INBOX_ATTEMPTS = 5
"""A failed message is offered again by ``pending_inbox`` until it has failed this often."""

REJECTED_ID_PREFIX = "rejected-"
_COUNTED = ("processed", "failed")  # marks that count as a processing attempt


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
        if status not in get_args(InboxStatus) or status == "rejected":
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
        message_id: str,
        status: MarkStatus,
        error: str | None = None,
        *,
        source: str | None = None,
    ) -> InboxMessage:
        """Record what happened to a message; ``processed``/``failed`` count as an attempt.

        ``source`` is needed only when two sources share the message id.
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
            now = utcnow()
            row.status = status
            row.error = error
            row.updated_at = now
            if status in _COUNTED:
                row.attempts += 1
            if status == "processed":
                row.processed_at = now
            return row
