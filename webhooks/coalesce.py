"""Messages of one merchant and source that arrive close together travel as one batch.

A burst of webhooks would otherwise cost one Prefect task run each (about 0.4 s of API work
per ``.delay()`` on a local server, measured) and one AMS request each. :class:`Coalescer`
holds each message for at most ``window_s`` (or until ``max_items`` are waiting) and sends
the group with one call. A message that finds its merchant and source idle (nothing sent for
them within the last ``window_s``) waits only ``idle_window_s``: a lone webhook is not
delayed by the whole window, while the messages of a burst that follow it are grouped.
Every caller blocks until its group was sent and sees that send's error, so "dispatched"
still means "Prefect has it" and a failure still leaves the inbox row for the sweeper.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SendBatch = Callable[[str, str, list[str]], None]
"""``send(merchant, source, message_ids)``: hand one group to Prefect; raises on failure."""

DEFAULT_WINDOW_S = 0.5
"""At 10 webhooks/s about 5 travel together: 0.2 AMS POST per return instead of 1."""
DEFAULT_IDLE_WINDOW_S = 0.02
"""The wait of a message that finds its key idle: enough to group simultaneous arrivals."""
DEFAULT_MAX_ITEMS = 30
"""AMS takes 30 records per write and 30 ids per read: a bigger group gains nothing."""


class BatchSendError(RuntimeError):
    """The group this message travelled in could not be sent."""


@dataclass
class _Group:
    ids: list[str] = field(default_factory=list)
    sent: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class Coalescer:
    """Groups ``submit`` calls per (merchant, source); thread-safe."""

    def __init__(
        self,
        send: SendBatch,
        *,
        window_s: float = DEFAULT_WINDOW_S,
        max_items: int = DEFAULT_MAX_ITEMS,
        idle_window_s: float = DEFAULT_IDLE_WINDOW_S,
    ) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self._send = send
        self.window_s = window_s
        self.idle_window_s = min(idle_window_s, window_s)
        self.max_items = max_items
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str], _Group] = {}
        self._last_sent: dict[tuple[str, str], float] = {}

    def submit(self, merchant: str, source: str, message_id: str) -> None:
        """Add one message; returns once its group was sent, or raises that send's error."""
        key = (merchant, source)
        with self._lock:
            group = self._open.get(key)
            leader = group is None
            wait_s = self.window_s
            if group is None:
                group = self._open[key] = _Group()
                idle = time.monotonic() - self._last_sent.get(key, -math.inf) >= self.window_s
                wait_s = self.idle_window_s if idle else self.window_s
            group.ids.append(message_id)
            full = len(group.ids) >= self.max_items
            if full:
                del self._open[key]
        if full:
            self._flush(key, group)
        elif leader and not group.sent.wait(wait_s):
            with self._lock:
                mine = self._open.get(key) is group
                if mine:
                    del self._open[key]
            if mine:
                self._flush(key, group)
        group.sent.wait()
        if group.error is not None:
            # A fresh error per caller: one exception object raised in many threads would
            # collect all their tracebacks.
            raise BatchSendError(f"{type(group.error).__name__}: {group.error}") from group.error

    def _flush(self, key: tuple[str, str], group: _Group) -> None:
        with self._lock:
            self._last_sent[key] = time.monotonic()
        try:
            self._send(key[0], key[1], list(group.ids))
        except BaseException as exc:
            group.error = exc
        finally:
            group.sent.set()
