"""Counts the API requests this process sends, per merchant, system and minute, into the ledger.

The shared clients count every request (an httpx request hook next to the rate gate, so
retries and read-backs count too), in memory, and add the counts to the ledger every
``FLUSH_INTERVAL_S`` and at exit. The ledger is the one store every worker, host and the
receiver already share, so the counts of all of them add up per merchant; a crash loses at
most the last interval's counts. What the counts are for: :mod:`tasks.budget`.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from ledger import Ledger

logger = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 10.0


def minute(at: datetime) -> datetime:
    """The UTC minute ``at`` falls in (the ledger counts per minute)."""
    return at.astimezone(UTC).replace(second=0, microsecond=0)


class RequestMeter:
    """Counts requests per (merchant, system, minute) in this process; adds them to the ledger.

    ``ledger`` is looked up at flush time (a callable), so a process whose settings change
    (tests) writes to the ledger that is current then.
    """

    def __init__(self, ledger: Callable[[], Ledger], interval_s: float = FLUSH_INTERVAL_S) -> None:
        self._ledger = ledger
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, datetime]] = Counter()
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()

    def hook(self, system: str, merchant: str) -> Callable[[httpx.Request], None]:
        """An httpx request hook that counts one request of ``system`` for ``merchant``."""

        def count(request: httpx.Request) -> None:  # noqa: ARG001 (httpx hook signature)
            self.record(system, merchant)

        return count

    def record(self, system: str, merchant: str, n: int = 1, at: datetime | None = None) -> None:
        """Count ``n`` requests sent at ``at`` (now)."""
        key = (merchant, system, minute(at or datetime.now(UTC)))
        with self._lock:
            self._counts[key] += n
            if self._flusher is None:
                self._flusher = threading.Thread(
                    target=self._run, name="request-meter", daemon=True
                )
                self._flusher.start()

    def pending(self) -> dict[tuple[str, str, datetime], int]:
        """Counts not yet in the ledger."""
        with self._lock:
            return dict(self._counts)

    def flush(self) -> int:
        """Add the counts so far to the ledger; how many requests were written.

        On failure the counts are kept for the next flush (and the error logged).
        """
        with self._lock:
            counts, self._counts = self._counts, Counter()
        if not counts:
            return 0
        try:
            self._ledger().add_request_counts(counts)
        except Exception as exc:
            with self._lock:
                self._counts.update(counts)
            logger.warning("request counts not written to the ledger (kept): %s", exc)
            return 0
        return sum(counts.values())

    def settle(self) -> None:
        """Flush now, before the process switches ledgers; what cannot be written is dropped.

        The counts belong to the ledger in use when they were made: kept, the next flush
        would add them to whichever ledger comes next.
        """
        self.flush()
        with self._lock:
            dropped, self._counts = sum(self._counts.values()), Counter()
        if dropped:
            logger.warning("%d request counts dropped: their ledger is gone", dropped)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()


def _current_ledger() -> Ledger:
    # The resources module builds the clients that count through this meter: imported at
    # flush time, not at import, to keep the two modules free of a cycle.
    from runtime.resources import get_ledger

    return get_ledger()


METER = RequestMeter(_current_ledger)
"""The process's meter; the runtime's clients count through it."""
atexit.register(METER.flush)
