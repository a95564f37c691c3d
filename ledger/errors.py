"""Errors raised by the ledger, so callers can tell "not there" from "contradicts what is there".

    LedgerError
    ├── LedgerNotFoundError     (also a LookupError) the row to change does not exist
    └── LedgerConflictError     the call contradicts a recorded fact (e.g. a second refund id)

Database errors (connection lost, lock timeout) surface as SQLAlchemy exceptions unchanged.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error raised by the ledger itself."""


class LedgerNotFoundError(LedgerError, LookupError):
    """The row the call wants to change does not exist."""


class LedgerConflictError(LedgerError):
    """The call contradicts what the ledger already holds; nothing was changed."""
