"""Exceptions awaiting review: one open row per (merchant, reason, subject), counted on repeat."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.columns import utcnow
from ledger.errors import LedgerConflictError, LedgerNotFoundError
from ledger.links import LinkChange, apply_link_changes
from ledger.models import ExceptionRecord
from ledger.store import Store, in_chunks

ExceptionStatus = Literal["open", "resolved", "ignored"]
_CLOSED = ("resolved", "ignored")


def fingerprint(merchant: str, reason: str, subject: str) -> str:
    """A fixed-length digest of what makes two exceptions "the same problem"."""
    raw = json.dumps([merchant, reason, subject], ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def payload_subject(payload: dict[str, Any]) -> str:
    """A stable subject for an exception that names no return: a digest of its payload."""
    canonical = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return "payload:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ExceptionNote(NamedTuple):
    """An exception to open (or count again), as :meth:`ReviewMixin.open_exception` takes it."""

    reason: str
    message: str
    payload: dict[str, Any]
    return_id: str | None = None
    stage: str | None = None
    source: str | None = None
    subject: str | None = None


def open_or_count(
    session: Session, merchant: str, note: ExceptionNote
) -> tuple[ExceptionRecord, bool]:
    """Inside ``session``: count another sighting of the open exception, or open one."""
    return open_or_count_many(session, merchant, [note])[0]


def open_or_count_many(
    session: Session, merchant: str, notes: Sequence[ExceptionNote]
) -> list[tuple[ExceptionRecord, bool]]:
    """:func:`open_or_count` for a batch: one lookup of the open rows, ``(row, created)`` per
    note; a second note with the same fingerprint counts on the row the first one opened."""
    prints: list[tuple[ExceptionNote, str, str]] = []
    for note in notes:
        subject = note.subject or note.return_id or payload_subject(note.payload)
        prints.append((note, subject, fingerprint(merchant, note.reason, subject)))
    wanted = sorted({p for _, _, p in prints})
    open_rows: dict[str, ExceptionRecord] = {}
    for some in in_chunks(wanted):
        query = select(ExceptionRecord).where(ExceptionRecord.open_fingerprint.in_(some))
        for found in session.scalars(query.with_for_update()):
            open_rows[found.fingerprint] = found
    out: list[tuple[ExceptionRecord, bool]] = []
    for note, subject, print_ in prints:
        seen = open_rows.get(print_)
        if seen is not None:
            seen.occurrences += 1
            seen.last_seen_at = utcnow()
            out.append((seen, False))
            continue
        row = ExceptionRecord(
            merchant=merchant,
            reason=note.reason,
            message=note.message,
            payload=note.payload,
            return_id=note.return_id,
            stage=note.stage,
            source=note.source,
            subject=subject,
            fingerprint=print_,
            open_fingerprint=print_,
            status="open",
            occurrences=1,
        )
        session.add(row)
        open_rows[print_] = row
        out.append((row, True))
    return out


class ReviewMixin(Store):
    """Operations on ``review_exceptions``."""

    def open_exception(
        self,
        merchant: str,
        reason: str,
        message: str,
        payload: dict[str, Any],
        return_id: str | None = None,
        stage: str | None = None,
        source: str | None = None,
        *,
        subject: str | None = None,
    ) -> tuple[ExceptionRecord, bool]:
        """Open an exception for review, or count another sighting of the open one.

        The subject is ``subject``, else ``return_id``, else a digest of ``payload``.
        Returns ``(row, created)``.
        """
        note = ExceptionNote(reason, message, payload, return_id, stage, source, subject)
        return self.record_exceptions(merchant, [note])[0]

    def record_exceptions(
        self, merchant: str, notes: Sequence[ExceptionNote]
    ) -> list[tuple[ExceptionRecord, bool]]:
        """:meth:`open_exception` for a batch, in one transaction."""
        return self.record_changes(merchant, notes=notes)

    def record_changes(
        self,
        merchant: str,
        links: Sequence[LinkChange] = (),
        notes: Sequence[ExceptionNote] = (),
    ) -> list[tuple[ExceptionRecord, bool]]:
        """Link changes (created, adopted or held links) and the review exceptions found with
        them, in one transaction; ``(row, created)`` per exception."""
        if not all(n.reason for n in notes):
            raise ValueError("reason is required")

        def attempt() -> list[tuple[ExceptionRecord, bool]]:
            with self._write() as session:
                rows = open_or_count_many(session, merchant, notes)
                apply_link_changes(session, merchant, links, bulk=True)
                return rows

        return self._retry_race(attempt) if (notes or links) else []

    def list_exceptions(
        self, merchant: str | None = None, status: ExceptionStatus | None = "open"
    ) -> list[ExceptionRecord]:
        """Exceptions in ``status`` (``None``: any), optionally of one merchant, oldest first."""
        query = select(ExceptionRecord)
        if merchant is not None:
            query = query.where(ExceptionRecord.merchant == merchant)
        if status is not None:
            query = query.where(ExceptionRecord.status == status)
        with self._read() as session:
            return list(session.scalars(query.order_by(ExceptionRecord.id)))

    def get_exception(self, exception_id: int) -> ExceptionRecord | None:
        """One exception by id, or ``None``."""
        with self._read() as session:
            return session.get(ExceptionRecord, exception_id)

    def resolve_exception(
        self,
        exception_id: int,
        status: Literal["resolved", "ignored"] = "resolved",
        note: str | None = None,
        by: str | None = None,
    ) -> ExceptionRecord:
        """Close an open exception; a new sighting afterwards opens a fresh one."""
        if status not in _CLOSED:
            raise ValueError(f"resolve status must be one of {_CLOSED}: {status!r}")
        with self._write() as session:
            row = session.get(ExceptionRecord, exception_id, with_for_update=True)
            if row is None:
                raise LedgerNotFoundError(f"no exception {exception_id}")
            if row.status != "open":
                raise LedgerConflictError(f"exception {exception_id} is already {row.status}")
            row.status = status
            row.open_fingerprint = None
            row.note = note
            row.resolved_by = by
            row.resolved_at = utcnow()
            return row
