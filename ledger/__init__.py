"""The bridge's durable state: links, stage history, inbox, refunds, watermarks, exceptions.

Open it with :func:`open_ledger` (SQLite file from ``LedgerSettings`` by default, any
SQLAlchemy URL otherwise); every operation is a method of :class:`Ledger`.
"""

from ledger.db import SQLITE_BUSY_TIMEOUT_MS, create_schema, make_engine, open_ledger
from ledger.errors import LedgerConflictError, LedgerError, LedgerNotFoundError
from ledger.held import (
    HELD_REASON_PREFIX,
    HeldReviewStatus,
    ReviewDecision,
    is_held_refund,
)
from ledger.inbox import (
    DEAD_LETTER_REASON,
    MAX_INBOX_ATTEMPTS,
    InboxStatus,
    MarkStatus,
    dead_letter_subject,
)
from ledger.leases import DEFAULT_LEASE_TTL_S, RENEW_AFTER, HeldLeases, new_owner
from ledger.links import LinkChange, StageNote
from ledger.models import (
    Base,
    ExceptionRecord,
    HeldReview,
    InboxMessage,
    Lease,
    Link,
    RefundAttempt,
    RequestCount,
    StageEvent,
    Watermark,
)
from ledger.refunds import DONE_STATUSES, DoneStatus, RefundClaim, RefundDone, RefundStatus
from ledger.repository import Ledger
from ledger.review import ExceptionNote, ExceptionStatus

__all__ = [
    "DEAD_LETTER_REASON",
    "DEFAULT_LEASE_TTL_S",
    "DONE_STATUSES",
    "HELD_REASON_PREFIX",
    "MAX_INBOX_ATTEMPTS",
    "RENEW_AFTER",
    "SQLITE_BUSY_TIMEOUT_MS",
    "Base",
    "DoneStatus",
    "ExceptionNote",
    "ExceptionRecord",
    "ExceptionStatus",
    "HeldLeases",
    "HeldReview",
    "HeldReviewStatus",
    "InboxMessage",
    "InboxStatus",
    "Lease",
    "Ledger",
    "LedgerConflictError",
    "LedgerError",
    "LedgerNotFoundError",
    "Link",
    "LinkChange",
    "MarkStatus",
    "RefundAttempt",
    "RefundClaim",
    "RefundDone",
    "RefundStatus",
    "RequestCount",
    "ReviewDecision",
    "StageEvent",
    "StageNote",
    "Watermark",
    "create_schema",
    "dead_letter_subject",
    "is_held_refund",
    "make_engine",
    "new_owner",
    "open_ledger",
]
