"""The frames the reconciliation compares, with their schemas checked at the boundary.

All three input frames are built by the reconcile flow from the two APIs and the ledger;
``classify`` trusts nothing it has not validated here. Conventions:

- Line-level frames: one row per return line (Returnly) or RMA line (AMS). Header columns
  (merchant, identity, status, timestamps) are repeated on every line of the same return.
  A return or RMA with no lines may be given as a single row with ``sku`` missing and zero units.
- ``customer_identifier`` is the identity both sides share: ``"RLY-" + returnly return id``.
- Strings are the pandas ``str`` dtype (``object`` is rejected: it hides mixed types).
  Timestamps are ``datetime64[ns, UTC]``; ``NaT`` means "not yet" (e.g. not refunded).
- ``refund_amount`` (Returnly) is **per line**: the money actually refunded for that line's
  product value, excluding shipping and tax; the return's refund is the sum over its lines.
  A builder that only knows the return-level total puts it on the first line and 0 elsewhere.
  ``unit_price`` is the refundable product value of one unit (after discounts).
- AMS receipt is split by the inspection result (``receiving_details``, contracts §B.7/§B.9):
  ``units_sellable`` = units received as ``available``; ``units_non_sellable`` = every other
  inventory status (damaged, qc, quarantine, unknown...). ``quantity_received`` is the total.
- Ledger: one row per return the bridge knows about.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

Schema = Mapping[str, str]
"""Column -> dtype name: ``str``, ``int64``, ``float64``, ``bool``, ``datetime64[ns, UTC]``."""

STR: Final = "str"
INT: Final = "int64"
FLOAT: Final = "float64"
BOOL: Final = "bool"
TS: Final = "datetime64[ns, UTC]"

RETURNLY_LINES: Final[Schema] = {
    "merchant": STR,
    "customer_identifier": STR,
    "return_id": STR,
    "rma": STR,
    "status": STR,
    "created_at": TS,
    "updated_at": TS,
    "refunded_at": TS,
    "sku": STR,
    "units_returned": INT,
    "units_refunded": INT,
    "unit_price": FLOAT,
    "refund_amount": FLOAT,
}
"""Returnly return lines (see the module docstring for ``refund_amount``)."""

AMS_LINES: Final[Schema] = {
    "merchant": STR,
    "customer_identifier": STR,
    "ams_id": STR,
    "status": STR,
    "created_at": TS,
    "updated_at": TS,
    "received_at": TS,
    "sku": STR,
    "quantity": INT,
    "quantity_received": INT,
    "units_sellable": INT,
    "units_non_sellable": INT,
    "not_on_original_rma": BOOL,
}
"""AMS RMA lines (``quantity`` is 0 on lines the warehouse added: ``not_on_original_rma``)."""

LEDGER: Final[Schema] = {
    "merchant": STR,
    "customer_identifier": STR,
    "stage": STR,
    "refunded": BOOL,
    "rma_created": BOOL,
}
"""The bridge's own view: one row per return."""

DRIFT: Final[Schema] = {
    "merchant": STR,
    "customer_identifier": STR,
    "return_id": STR,
    "ams_id": STR,
    "kind": "category",
    "severity": "category",
    "since": TS,
    "age_hours": FLOAT,
    "age_days": FLOAT,
    "detail": STR,
    "suggested_action": STR,
    "healable": BOOL,
}
"""What ``classify`` returns: one row per (return, drift kind)."""

REQUIRED_NON_NULL: Final[dict[str, tuple[str, ...]]] = {
    "returnly": (
        "merchant",
        "customer_identifier",
        "return_id",
        "status",
        "created_at",
        "updated_at",
    ),
    "ams": ("merchant", "customer_identifier", "ams_id", "status", "created_at", "updated_at"),
    "ledger": ("merchant", "customer_identifier"),
}
"""Key columns that may not be missing, per side (the others may be NA/NaT)."""


class FrameSchemaError(ValueError):
    """A frame handed to the drift classification does not match its schema."""


def _dtype_matches(actual: object, expected: str) -> bool:
    if expected == STR:
        # Both string dtypes ("str" with NaN, "string" with pd.NA), any storage.
        return isinstance(actual, pd.StringDtype)
    if expected == "category":
        return isinstance(actual, pd.CategoricalDtype)
    return bool(actual == pd.api.types.pandas_dtype(expected))


def validate_frame(df: pd.DataFrame, schema: Schema, side: str) -> pd.DataFrame:
    """Check columns, dtypes and non-null keys; return ``df`` unchanged or raise.

    Extra columns are allowed (the flow may carry more); missing ones and wrong dtypes are not.
    The error names the side, the column, the dtype found and the dtype expected.
    """
    missing = [column for column in schema if column not in df.columns]
    if missing:
        raise FrameSchemaError(f"{side} frame: missing column(s) {', '.join(missing)}")
    for column, expected in schema.items():
        actual = df[column].dtype
        if not _dtype_matches(actual, expected):
            raise FrameSchemaError(
                f"{side} frame: column {column!r} has dtype {actual}, expected {expected}"
            )
    for column in REQUIRED_NON_NULL.get(side, ()):
        if column in schema and df[column].isna().any():
            raise FrameSchemaError(f"{side} frame: column {column!r} has missing values")
    for column, expected in schema.items():
        if expected == INT and len(df) and (df[column] < 0).any():
            raise FrameSchemaError(f"{side} frame: column {column!r} has negative values")
    return df


def empty_frame(schema: Schema) -> pd.DataFrame:
    """A zero-row frame with exactly the schema's columns and dtypes."""
    return pd.DataFrame(
        {column: pd.Series(dtype=_build_dtype(dtype)) for column, dtype in schema.items()}
    )


def coerce_frame(df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Cast the schema's columns to their dtypes (for builders); validate afterwards.

    Timestamps are parsed as UTC; naive values are taken to be UTC.
    """
    out = df.copy()
    for column, dtype in schema.items():
        if column not in out.columns:
            continue
        if dtype == TS:
            out[column] = pd.to_datetime(out[column], utc=True).astype(TS)
        elif dtype != "category":
            out[column] = out[column].astype(_build_dtype(dtype))
    return out


def _build_dtype(dtype: str) -> str:
    # Categories are only known to the producer; an empty frame gets a plain string column.
    return STR if dtype == "category" else dtype
