"""Which returns and RMAs one reconciliation looks at.

A night covers every return (and RMA) *created* in the trailing ``days``, plus everything still
open whatever its age: an old open item is exactly the drift nobody is watching any more.
Returnly only filters on ``min_updated_at`` and AMS only on the *created* date (``sdt``/``edt``,
contracts §B.5), so each side is read by what its API can filter and the rest is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from stages import names

RETURNLY_OPEN_STATUSES: Final = frozenset(
    {"requested", "authorized", "in_transit", "delivered", "pending_refund"}
)
"""Returnly statuses of a return whose story is not over (refunded and canceled are)."""


LEDGER_FINAL_STAGES: Final = frozenset({names.REFUNDED, names.CANCELLED})
"""Ledger stages after which the bridge no longer follows a return."""

MAX_DAYS: Final = 3660


@dataclass(frozen=True, slots=True)
class Window:
    """The slice of history one reconciliation reads.

    Attributes
    ----------
    now:
        The reconciliation instant (aware); ages and grace periods are measured from it.
    days:
        Returns and RMAs created in ``[now - days, ...)`` are in scope.
    include_open:
        Also everything still open that was created earlier.
    """

    now: datetime
    days: int = 90
    include_open: bool = True

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        if not 0 < self.days <= MAX_DAYS:
            raise ValueError(f"days must be within 1..{MAX_DAYS}")

    @property
    def start(self) -> datetime:
        """The earliest creation instant in scope (UTC)."""
        return self.now.astimezone(UTC) - timedelta(days=self.days)

    def covers_return(self, created_at: datetime, status: str) -> bool:
        """Whether a Returnly return is in scope by its own facts."""
        if created_at >= self.start:
            return True
        return self.include_open and status in RETURNLY_OPEN_STATUSES

    def describe(self) -> str:
        """One line for logs and reports."""
        extra = " + everything still open" if self.include_open else ""
        return f"created since {self.start:%Y-%m-%d %H:%M} UTC ({self.days} days){extra}"
