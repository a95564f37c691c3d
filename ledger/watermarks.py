"""Poll watermarks: per merchant and poll name, a timestamp that only moves forward."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from ledger.columns import require_aware, utcnow
from ledger.models import Watermark
from ledger.store import Store


class WatermarksMixin(Store):
    """Operations on ``watermarks``."""

    def get_watermark(self, merchant: str, name: str) -> datetime | None:
        """The stored watermark (timezone-aware UTC), or ``None`` if never set."""
        with self._read() as session:
            query = select(Watermark.value).where(
                Watermark.merchant == merchant, Watermark.name == name
            )
            return session.scalars(query).first()

    def advance_watermark(self, merchant: str, name: str, value: datetime) -> datetime:
        """Move the watermark to ``value`` if that is later; return the stored value.

        The row is locked while compared, and a lost first-insert race is retried against
        the winner's row, so racing runs can never move it back in any commit order.
        """
        value = require_aware(value, "value")

        def attempt() -> datetime:
            with self._write() as session:
                row = session.scalars(
                    select(Watermark)
                    .where(Watermark.merchant == merchant, Watermark.name == name)
                    .with_for_update()
                ).first()
                if row is None:
                    session.add(Watermark(merchant=merchant, name=name, value=value))
                    return value
                if row.value < value:
                    row.value = value
                    row.updated_at = utcnow()
                return row.value

        return self._retry_race(attempt)
