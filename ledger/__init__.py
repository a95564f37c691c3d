"""The bridge's durable state: links, stage history, inbox, refunds, watermarks, exceptions.

Open it with :func:`open_ledger` (SQLite file from ``LedgerSettings`` by default, any
SQLAlchemy URL otherwise); every operation is a method of :class:`Ledger`.
"""

from ledger.db import SQLITE_BUSY_TIMEOUT_MS, create_schema, make_engine, open_ledger
from ledger.errors import LedgerConflictError, LedgerError, LedgerNotFoundError
from ledger.inbox import (
    DEAD_LETTER_REASON,
    MAX_INBOX_ATTEMPTS,
    InboxStatus,
    MarkStatus,
    dead_letter_subject,
)
from ledger.leases import DEFAULT_LEASE_TTL_S, new_owner
from ledger.links import LinkChange, StageNote
from ledger.models import (
    Base,
    ExceptionRecord,
    InboxMessage,
    Lease,
    Link,
    RefundAttempt,
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
    "MAX_INBOX_ATTEMPTS",
    "SQLITE_BUSY_TIMEOUT_MS",
    "Base",
    "DoneStatus",
    "ExceptionNote",
    "ExceptionRecord",
    "ExceptionStatus",
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
    "StageEvent",
    "StageNote",
    "Watermark",
    "create_schema",
    "dead_letter_subject",
    "make_engine",
    "new_owner",
    "open_ledger",
]
