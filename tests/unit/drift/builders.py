"""Tiny inline frames for the drift tests: one dict per line, defaults for everything else."""

from __future__ import annotations

from typing import Any

import pandas as pd  # type: ignore[import-untyped]

from core.drift import AMS_LINES, LEDGER, RETURNLY_LINES, coerce_frame, empty_frame

NOW = pd.Timestamp("2026-11-20T02:00:00Z")
MERCHANT = "acme"


def ago(**delta: float) -> pd.Timestamp:
    """A moment before NOW (``ago(days=3)``)."""
    return NOW - pd.Timedelta(**delta)


def returnly_line(rid: str = "1001", **fields: Any) -> dict[str, Any]:
    """One Returnly line of return ``rid`` (authorized 1 day ago, one unit of TEE-BLACK-M)."""
    return {
        "merchant": MERCHANT,
        "customer_identifier": f"RLY-{rid}",
        "return_id": rid,
        "rma": f"R{rid}",
        "status": "authorized",
        "created_at": ago(days=1),
        "updated_at": ago(days=1),
        "refunded_at": pd.NaT,
        "sku": "TEE-BLACK-M",
        "units_returned": 1,
        "units_refunded": 0,
        "unit_price": 20.0,
        "refund_amount": 0.0,
        **fields,
    }


def ams_line(rid: str = "1001", **fields: Any) -> dict[str, Any]:
    """One AMS line of the RMA for return ``rid`` (open, one unit expected, nothing received)."""
    return {
        "merchant": MERCHANT,
        "customer_identifier": f"RLY-{rid}",
        "ams_id": f"ams-{rid}",
        "status": "open",
        "created_at": ago(days=1),
        "updated_at": ago(days=1),
        "received_at": pd.NaT,
        "sku": "TEE-BLACK-M",
        "quantity": 1,
        "quantity_received": 0,
        "units_sellable": 0,
        "units_non_sellable": 0,
        "not_on_original_rma": False,
        **fields,
    }


def ledger_row(rid: str = "1001", **fields: Any) -> dict[str, Any]:
    """The ledger's view of return ``rid`` (RMA created, not refunded)."""
    return {
        "merchant": MERCHANT,
        "customer_identifier": f"RLY-{rid}",
        "stage": "rma_created",
        "refunded": False,
        "rma_created": True,
        **fields,
    }


def _frame(rows: list[dict[str, Any]], schema: dict[str, str] | Any) -> pd.DataFrame:
    if not rows:
        return empty_frame(schema)
    return coerce_frame(pd.DataFrame(rows), schema)


def returnly(*rows: dict[str, Any]) -> pd.DataFrame:
    """A valid Returnly lines frame."""
    return _frame(list(rows), RETURNLY_LINES)


def ams(*rows: dict[str, Any]) -> pd.DataFrame:
    """A valid AMS lines frame."""
    return _frame(list(rows), AMS_LINES)


def ledger(*rows: dict[str, Any]) -> pd.DataFrame:
    """A valid ledger frame."""
    return _frame(list(rows), LEDGER)


def received(
    rid: str = "1001", units: int = 1, sellable: int | None = None, **fields: Any
) -> dict[str, Any]:
    """An AMS line received in full (sellable unless told otherwise) a day ago."""
    good = units if sellable is None else sellable
    base = {
        "status": "received",
        "received_at": ago(days=1),
        "quantity": units,
        "quantity_received": units,
        "units_sellable": good,
        "units_non_sellable": units - good,
    }
    return ams_line(rid, **{**base, **fields})


def refunded(
    rid: str = "1001", units: int = 1, amount: float | None = None, **fields: Any
) -> dict[str, Any]:
    """A Returnly line refunded in full at 20.00 a unit, 12 hours ago."""
    base = {
        "status": "refunded",
        "refunded_at": ago(hours=12),
        "units_returned": units,
        "units_refunded": units,
        "refund_amount": 20.0 * units if amount is None else amount,
    }
    return returnly_line(rid, **{**base, **fields})


def exception(eid: int, reason: str, rid: str = "1001", **fields: Any) -> dict[str, Any]:
    """An open review exception ``eid`` on return ``rid``."""
    return {
        "merchant": MERCHANT,
        "exception_id": eid,
        "reason": reason,
        "customer_identifier": f"RLY-{rid}",
        **fields,
    }


def exceptions(*rows: dict[str, Any]) -> pd.DataFrame:
    """A valid open-exceptions frame (:data:`core.drift.triage.EXCEPTIONS`)."""
    from core.drift.triage import EXCEPTIONS

    return _frame(list(rows), EXCEPTIONS)


def seen(rid: str, kind: str, first_seen: pd.Timestamp, **fields: Any) -> dict[str, Any]:
    """A drift row of the previous report (return ``rid``, ``kind``, first seen then)."""
    return {
        "merchant": MERCHANT,
        "customer_identifier": f"RLY-{rid}",
        "kind": kind,
        "severity": "medium",
        "first_seen": first_seen,
        "detail": "as it was",
        **fields,
    }


def previous(*rows: dict[str, Any]) -> pd.DataFrame:
    """A valid previous-report frame (:data:`core.drift.triage.PREVIOUS`)."""
    from core.drift.triage import PREVIOUS

    return _frame(list(rows), PREVIOUS)
