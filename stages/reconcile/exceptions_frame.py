"""The merchant's open review exceptions as the triage's ``EXCEPTIONS`` frame.

Each exception is placed on the drift identity it concerns: the ``customer_identifier`` its
payload names (arrival and cancellation record it), else ``RLY-<return id>``, else
``AMS-<RMA id>`` for an RMA the warehouse created without one (as the AMS frame names it),
else its subject.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from core.drift.frames import coerce_frame, empty_frame, validate_frame
from core.drift.triage import EXCEPTIONS
from core.mapping import customer_identifier_for
from ledger import ExceptionRecord, Ledger
from stages.reconcile.ams_frame import WAREHOUSE_IDENTITY_PREFIX


def exception_identity(record: ExceptionRecord) -> str:
    """The drift identity an exception concerns (see the module docstring)."""
    payload = record.payload if isinstance(record.payload, dict) else {}
    named = payload.get("customer_identifier")
    if isinstance(named, str) and named:
        return named
    if record.return_id:
        return customer_identifier_for(record.return_id)
    ams_id = payload.get("ams_id")
    if isinstance(ams_id, str) and ams_id:
        return f"{WAREHOUSE_IDENTITY_PREFIX}{ams_id}"
    return record.subject


def exceptions_frame(merchant: str, records: Sequence[ExceptionRecord]) -> pd.DataFrame:
    """The validated ``EXCEPTIONS`` frame of these (open) exceptions."""
    if not records:
        return empty_frame(EXCEPTIONS)
    frame = pd.DataFrame(
        {
            "merchant": [merchant] * len(records),
            "exception_id": [r.id for r in records],
            "reason": [r.reason for r in records],
            "customer_identifier": [exception_identity(r) for r in records],
        }
    )
    return validate_frame(coerce_frame(frame, EXCEPTIONS), EXCEPTIONS, "exceptions")


def open_exceptions(ledger: Ledger, merchant: str) -> pd.DataFrame:
    """The merchant's open review exceptions, read now, as the ``EXCEPTIONS`` frame."""
    return exceptions_frame(merchant, ledger.list_exceptions(merchant, status="open"))
