"""The ledger's tables, as typed SQLAlchemy 2 declarative models.

Every table carries ``merchant``. Payloads are JSON (dict or raw string), human text is
``Text`` (never truncated), identifiers are bounded ``String`` columns whose limits are
checked before any write on every backend (SQLite would silently accept longer ones).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, mapped_column

from ledger.columns import DecimalText, UTCDateTime, utcnow
from ledger.errors import LedgerError

MERCHANT_LEN = 128
ID_LEN = 255
CODE_LEN = 64

# BIGINT does not autoincrement on SQLite; INTEGER PRIMARY KEY does.
_BigId = BigInteger().with_variant(Integer(), "sqlite")

JsonValue = dict[str, Any] | list[Any] | str


class Base(DeclarativeBase):
    """Declarative base of every ledger table."""


class Link(Base):
    """A Returnly return and its AMS RMA: the identity every stage joins on."""

    __tablename__ = "links"
    __table_args__ = (
        UniqueConstraint("merchant", "return_id", name="uq_links_merchant_return"),
        UniqueConstraint("merchant", "customer_identifier", name="uq_links_merchant_customer_id"),
        Index("ix_links_merchant_stage", "merchant", "stage"),
        Index("ix_links_ams_uuid", "ams_uuid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant: Mapped[str] = mapped_column(String(MERCHANT_LEN))
    return_id: Mapped[str] = mapped_column(String(ID_LEN))
    customer_identifier: Mapped[str] = mapped_column(String(ID_LEN))
    ams_uuid: Mapped[str | None] = mapped_column(String(ID_LEN))
    rma_number: Mapped[str | None] = mapped_column(String(ID_LEN))
    stage: Mapped[str] = mapped_column(String(CODE_LEN))
    status: Mapped[str | None] = mapped_column(String(CODE_LEN))
    platform_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """The return's ``updated_at`` on its platform when the bridge last read it: a lower
    bound of its value now (platforms only move it forward), so completion can re-read a
    batch by listing from the oldest one instead of one GET per return."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StageEvent(Base):
    """One step a return went through (append-only history)."""

    __tablename__ = "stage_events"
    __table_args__ = (Index("ix_stage_events_merchant_return", "merchant", "return_id"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    merchant: Mapped[str] = mapped_column(String(MERCHANT_LEN))
    return_id: Mapped[str] = mapped_column(String(ID_LEN))
    stage: Mapped[str] = mapped_column(String(CODE_LEN))
    outcome: Mapped[str] = mapped_column(String(CODE_LEN))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    run_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InboxMessage(Base):
    """An inbound webhook or callback, written before it is acknowledged."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("source", "message_id", name="uq_inbox_source_message"),
        Index("ix_inbox_status_received", "status", "received_at"),
        Index("ix_inbox_merchant", "merchant"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(CODE_LEN))
    message_id: Mapped[str] = mapped_column(String(ID_LEN))
    claimed_message_id: Mapped[str | None] = mapped_column(Text)
    """For rejected messages: the id the sender claimed, kept apart because it is untrusted."""
    merchant: Mapped[str] = mapped_column(String(MERCHANT_LEN))
    kind: Mapped[str] = mapped_column(String(CODE_LEN))
    subject_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    payload: Mapped[JsonValue] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Processing attempts: each ``processed``/``failed`` mark, and each hand-off that came to
    nothing (the sweeper found it stale, or its flow run ended without finishing it)."""
    dispatches: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Hand-offs Prefect accepted; the next one's number keeps its event id new."""
    run_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    """The flow run that took the message (event dispatch), so the sweeper can ask its state."""
    error: Mapped[str | None] = mapped_column(Text)
    """Last processing error, or the reason a message was rejected or dead-lettered."""
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RefundAttempt(Base):
    """One refund, keyed by (return, lines, quantities) so it is issued at most once."""

    __tablename__ = "refund_attempts"
    __table_args__ = (
        UniqueConstraint("key", name="uq_refund_attempts_key"),
        Index("ix_refund_attempts_merchant_return", "merchant", "return_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant: Mapped[str] = mapped_column(String(MERCHANT_LEN))
    return_id: Mapped[str] = mapped_column(String(ID_LEN))
    key: Mapped[str] = mapped_column(String(ID_LEN))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(32))
    refund_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    amount: Mapped[Decimal | None] = mapped_column(DecimalText())
    error: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Lease(Base):
    """Who may perform one side effect right now (post a refund, create or delete an RMA).

    Taken atomically, held until ``expires_at``: a run that crashed or lost an answer leaves
    a lease that simply runs out, and the next run settles the effect by reading first.
    """

    __tablename__ = "leases"
    __table_args__ = (UniqueConstraint("merchant", "key", name="uq_leases_merchant_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant: Mapped[str] = mapped_column(String(MERCHANT_LEN))
    key: Mapped[str] = mapped_column(String(ID_LEN))
    owner: Mapped[str] = mapped_column(String(ID_LEN))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Watermark(Base):
    """How far a poll has read, per merchant and poll name; only moves forward."""

    __tablename__ = "watermarks"
    __table_args__ = (UniqueConstraint("merchant", "name", name="uq_watermarks_merchant_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant: Mapped[str] = mapped_column(String(MERCHANT_LEN))
    name: Mapped[str] = mapped_column(String(CODE_LEN))
    value: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RequestCount(Base):
    """API requests the bridge sent, per merchant, system and minute (the request budget).

    The clients count what they send and add it here in batches, so every process and host
    of a merchant adds to the same rows (see :mod:`tasks.budget`).
    """

    __tablename__ = "request_counts"
    __table_args__ = (
        UniqueConstraint("merchant", "system", "minute", name="uq_request_counts_minute"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    merchant: Mapped[str] = mapped_column(String(MERCHANT_LEN))
    system: Mapped[str] = mapped_column(String(CODE_LEN))
    minute: Mapped[datetime] = mapped_column(UTCDateTime())
    """The start of the minute (UTC) the requests were sent in."""
    count: Mapped[int] = mapped_column(Integer, default=0)


class ExceptionRecord(Base):
    """Something a person has to look at; one open row per (merchant, reason, subject)."""

    __tablename__ = "review_exceptions"
    __table_args__ = (
        UniqueConstraint("open_fingerprint", name="uq_review_exceptions_open_fingerprint"),
        Index("ix_review_exceptions_merchant_status", "merchant", "status"),
        Index("ix_review_exceptions_fingerprint", "fingerprint"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant: Mapped[str] = mapped_column(String(MERCHANT_LEN))
    reason: Mapped[str] = mapped_column(String(CODE_LEN))
    message: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    return_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    stage: Mapped[str | None] = mapped_column(String(CODE_LEN))
    source: Mapped[str | None] = mapped_column(String(CODE_LEN))
    subject: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    open_fingerprint: Mapped[str | None] = mapped_column(String(64))
    """Equal to ``fingerprint`` while open, NULL once closed: a portable "unique while open"."""
    status: Mapped[str] = mapped_column(String(16))
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(ID_LEN))
    note: Mapped[str | None] = mapped_column(Text)


class HeldReview(Base):
    """A refund held for review waiting for a person's decision, and what became of it.

    One row per held-refund exception. ``flow_run_id`` is the Prefect run suspended on the
    decision (its approval form); ``deadline`` is when the merchant's default applies.
    """

    __tablename__ = "held_reviews"
    __table_args__ = (
        UniqueConstraint("exception_id", name="uq_held_reviews_exception"),
        Index("ix_held_reviews_merchant_status", "merchant", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exception_id: Mapped[int] = mapped_column(Integer)
    merchant: Mapped[str] = mapped_column(String(MERCHANT_LEN))
    return_id: Mapped[str] = mapped_column(String(ID_LEN))
    status: Mapped[str] = mapped_column(String(16))
    """``waiting`` (for a person), ``decided`` (being applied), ``done``."""
    flow_run_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    default_action: Mapped[str] = mapped_column(String(CODE_LEN))
    decision: Mapped[str | None] = mapped_column(String(CODE_LEN))
    """``approve``, ``reject`` or ``resolve``."""
    deduction_amount: Mapped[Decimal | None] = mapped_column(DecimalText())
    decided_by: Mapped[str | None] = mapped_column(String(ID_LEN))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(Text)
    """What applying the decision did (refund id and amount, or why nothing was posted)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def _check_lengths(mapper: Mapper[Any], _connection: Connection, target: Any) -> None:
    """Refuse over-long identifiers on every backend instead of letting SQLite keep them."""
    for column in mapper.columns:
        limit = getattr(column.type, "length", None)
        if not isinstance(column.type, String) or isinstance(column.type, Text) or not limit:
            continue
        value = getattr(target, column.key, None)
        if isinstance(value, str) and len(value) > limit:
            raise ValueError(
                f"{mapper.class_.__name__}.{column.key} is {len(value)} characters; limit {limit}"
            )


def _refuse_change(_mapper: Mapper[Any], _connection: Connection, _target: Any) -> None:
    raise LedgerError("stage history is append-only: rows cannot be updated or deleted")


event.listen(Base, "before_insert", _check_lengths, propagate=True)
event.listen(Base, "before_update", _check_lengths, propagate=True)
event.listen(StageEvent, "before_update", _refuse_change)
event.listen(StageEvent, "before_delete", _refuse_change)
