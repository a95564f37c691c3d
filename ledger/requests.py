"""The request budget's counts: API requests per merchant, system and minute."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete, select

from ledger.columns import require_aware
from ledger.models import RequestCount
from ledger.store import Store

CountKey = tuple[str, str, datetime]
"""(merchant, system, start of the minute in UTC)."""


class RequestCountsMixin(Store):
    """Operations on ``request_counts``."""

    def add_request_counts(self, counts: Mapping[CountKey, int]) -> None:
        """Add ``counts`` to the stored ones in one transaction (rows locked while added).

        A lost first-insert race is retried against the winner's row, so concurrent
        processes never lose each other's counts.
        """
        wanted = {(m, s, require_aware(t, "minute")): n for (m, s, t), n in counts.items() if n > 0}
        if not wanted:
            return

        def attempt() -> None:
            with self._write() as session:
                for (merchant, system, minute), n in sorted(wanted.items()):
                    row = session.scalars(
                        select(RequestCount)
                        .where(
                            RequestCount.merchant == merchant,
                            RequestCount.system == system,
                            RequestCount.minute == minute,
                        )
                        .with_for_update()
                    ).first()
                    if row is None:
                        session.add(
                            RequestCount(merchant=merchant, system=system, minute=minute, count=n)
                        )
                        session.flush()
                    else:
                        row.count += n

        self._retry_race(attempt)

    def request_counts(self, merchant: str, since: datetime) -> dict[tuple[str, datetime], int]:
        """``{(system, minute): requests}`` for the minutes starting at or after ``since``."""
        since = require_aware(since, "since")
        with self._read() as session:
            rows = session.execute(
                select(RequestCount.system, RequestCount.minute, RequestCount.count).where(
                    RequestCount.merchant == merchant, RequestCount.minute >= since
                )
            ).all()
        return {(system, minute): count for system, minute, count in rows}

    def prune_request_counts(self, before: datetime) -> int:
        """Forget the minutes before ``before``; how many rows went."""
        before = require_aware(before, "before")
        with self._write() as session:
            result = session.execute(delete(RequestCount).where(RequestCount.minute < before))
            return int(getattr(result, "rowcount", 0) or 0)
