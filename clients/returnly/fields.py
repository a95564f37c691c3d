"""Field types and constants shared by the Returnly models (contracts §A.3, §A.5, §A.8.3).

Amounts are ``Decimal`` and accept strings or numbers (the TS interfaces type them as strings,
RES1 as NUMBER(38,2)); timestamps are always aware; statuses stay opaque strings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, PlainValidator

# --- statuses (contracts §A.5, §A.8.3) -------------------------------------------------------

KNOWN_STATUSES: frozenset[str] = frozenset(
    {
        "requested",
        "authorized",
        "in_transit",
        "delivered",
        "pending_refund",
        "refunded",
        "canceled_by_merchant",
        "cancelled",
        "incomplete",
    }
)
"""Statuses the bridge may act on; anything else goes to manual review (§A.8.3)."""

CANCELED_STATUSES: frozenset[str] = frozenset({"canceled_by_merchant", "cancelled"})


def is_actionable_status(status: str) -> bool:
    """Whether the bridge may act on a return in this status (unknown values: manual review)."""
    return status in KNOWN_STATUSES


DEFAULT_INCLUDE: tuple[str, ...] = (
    "return_line_items",
    "shipping_labels",
    "refunds",
    "instant_refund_voucher",
    "repurchases",
    "invoice_items",
)
"""Every ``include`` value seen in use (§A.2)."""


# --- field types -----------------------------------------------------------------------------


def _assume_utc(value: datetime) -> datetime:
    """Naive timestamps are read as UTC so every datetime we hand out is aware."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _none_is_false(value: Any) -> Any:
    return False if value is None else value


def _none_is_blank(value: Any) -> Any:
    return "" if value is None else value


def none_is_empty(value: Any) -> Any:
    """Before-validator for lists where the API's ``null`` means "none"."""
    return [] if value is None else value


def _scalar_to_list(value: Any) -> Any:
    return [value] if isinstance(value, str | int | float | dict) else value


Timestamp = Annotated[datetime, AfterValidator(_assume_utc)]
"""An aware datetime (naive input is taken as UTC)."""
Flag = Annotated[bool, BeforeValidator(_none_is_false)]
"""A boolean where the API's ``null`` means ``False``."""
Text = Annotated[str, BeforeValidator(_none_is_blank)]
"""A string where the API's ``null`` means ``""`` (numbers are read as strings)."""
Items = Annotated[list[Any] | None, BeforeValidator(_scalar_to_list)]
"""A loosely typed list (``None`` when absent); a single value is read as a one-item list."""
_DECIMALS: dict[str, Decimal] = {}
_DECIMAL_CACHE_MAX = 50_000


def _to_decimal(value: Any) -> Decimal:
    """Amount validator: strings, ints, floats or Decimals; never NaN/inf or booleans.

    Decimals are immutable, and a page repeats the same few amount strings ("0.00", prices)
    many times, so parsed values are cached: this is ~3x cheaper than pydantic's own Decimal
    validation, which dominated the cost of reading a page of returns.
    """
    if type(value) is str:
        cached = _DECIMALS.get(value)
        if cached is not None:
            return cached
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(f"not an amount: {type(value).__name__}")
    try:
        result = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except ArithmeticError:
        raise ValueError("not an amount") from None
    if not result.is_finite():
        raise ValueError("amount must be finite")
    if type(value) is str:
        if len(_DECIMALS) >= _DECIMAL_CACHE_MAX:
            _DECIMALS.clear()
        _DECIMALS[value] = result
    return result


Amount = Annotated[
    Decimal,
    PlainValidator(_to_decimal),
    # Explicit, because PlainValidator's default serializer warns in JSON mode.
    PlainSerializer(str, return_type=str, when_used="json"),
]
"""A required amount (same validation as :data:`Money`)."""
Money = Amount | None
"""An amount: string or number on the wire, ``Decimal`` here, ``None`` when absent."""
