"""Column types that behave the same on SQLite and Postgres.

SQLite has no timezone-aware timestamp and no exact decimal, so both are normalised here:
datetimes are stored as naive UTC text on SQLite (fixed width, so text order is time order)
and come back timezone-aware in UTC everywhere; decimals are stored as their exact text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, String
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def require_aware(value: datetime, name: str = "value") -> datetime:
    """Return ``value`` in UTC; a naive datetime is ambiguous, so it is refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC on the way in and out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = require_aware(value)
        # Only Postgres keeps the offset; elsewhere store naive UTC so comparisons stay exact.
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 (SQLAlchemy's signature)
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class DecimalText(TypeDecorator[Decimal]):
    """An exact decimal stored as text (SQLite would round a NUMERIC through float)."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:  # noqa: ARG002
        if value is None:
            return None
        number = Decimal(str(value))
        if not number.is_finite():
            raise ValueError(f"amount must be finite, got {value!r}")
        return str(number)

    def process_result_value(
        self,
        value: str | None,
        dialect: Dialect,  # noqa: ARG002 (SQLAlchemy's signature)
    ) -> Decimal | None:
        return None if value is None else Decimal(value)
