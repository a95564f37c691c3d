"""A recording dispatcher for tests: the receiver hands it messages instead of Prefect."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class DispatchCall:
    """One call seen by :class:`RecordingDispatcher`."""

    merchant: str
    source: str
    message_id: str
    kind: str
    subject_id: str | None
    attempt: int = 0


class DispatchFailedError(RuntimeError):
    """Raised by a :class:`RecordingDispatcher` told to fail."""


class RecordingDispatcher:
    """Test double: records every call; ``fail_next(n)`` or ``failing`` make calls raise.

    Failed calls are recorded in ``failed``, not in ``calls``.
    """

    def __init__(self, *, failing: bool = False) -> None:
        self._cond = threading.Condition()
        self.calls: list[DispatchCall] = []
        self.failed: list[DispatchCall] = []
        self.failing = failing
        self._fail_left = 0

    def fail_next(self, n: int) -> None:
        """Make the next ``n`` calls raise."""
        with self._cond:
            self._fail_left = n

    def dispatch(
        self,
        merchant: str,
        source: str,
        message_id: str,
        kind: str,
        subject_id: str | None,
        *,
        attempt: int = 0,
    ) -> None:
        """Record the call, or raise :class:`DispatchFailedError`."""
        call = DispatchCall(merchant, source, message_id, kind, subject_id, attempt)
        with self._cond:
            fail = self.failing or self._fail_left > 0
            if self._fail_left > 0:
                self._fail_left -= 1
            (self.failed if fail else self.calls).append(call)
            self._cond.notify_all()
        if fail:
            raise DispatchFailedError(f"dispatch of {source}/{message_id} refused (test)")

    def wait_for(
        self, n: int, timeout_s: float = 5.0, *, failed: bool = False
    ) -> list[DispatchCall]:
        """Block until ``n`` calls (or failures) were seen; dispatch runs after the 2xx."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self.failed if failed else self.calls) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = len(self.failed if failed else self.calls)
                    raise AssertionError(f"expected {n} dispatch calls, saw {seen}")
                self._cond.wait(left)
            return list(self.failed if failed else self.calls)
