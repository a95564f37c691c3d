"""A dispatcher that also posts the first few messages of one kind as Prefect events.

The demo's receiver hands every message to the task worker (sub-second) and, through this,
the first Returnly ``return.authorized`` webhook also to ``POST /api/events`` exactly as
dispatch mode ``event`` does, so one deployment run is started by its event trigger.
Prefect-free at import: the demo builds it before the Prefect environment is set.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from webhooks.dispatch import Dispatcher
from webhooks.events import EventDispatcher


@dataclass(frozen=True)
class SentEvent:
    """A message the sampler also posted as a Prefect event."""

    merchant: str
    source: str
    message_id: str
    kind: str
    subject_id: str | None
    at: datetime


class EventSampler:
    """Dispatcher: posts the first ``limit`` messages of one kind as Prefect events too.

    Put after the task-worker dispatcher (``CompositeDispatcher``): those messages are then
    handled twice, by the task worker and by the triggered deployment run, as in dispatch mode
    ``both``; every stage is idempotent, so the second one finds the work done.
    """

    def __init__(
        self, source: str, kind: str, limit: int = 1, *, events: Dispatcher | None = None
    ) -> None:
        self.source, self.kind, self.limit = source, kind, limit
        self.sent: list[SentEvent] = []
        """Messages posted as events (the API accepted them)."""
        self._claimed = 0
        self._lock = threading.Lock()
        self._events = events
        """Built at first use by default: PREFECT_API_URL is set only once the stack runs."""

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
        """Post the event when the message is one of the first ``limit`` of its kind."""
        with self._lock:
            if (source, kind) != (self.source, self.kind) or self._claimed >= self.limit:
                return
            self._claimed += 1
            self._events = self._events or EventDispatcher()
            events = self._events
        at = datetime.now(UTC)
        try:
            events.dispatch(merchant, source, message_id, kind, subject_id, attempt=attempt)
        except Exception:
            with self._lock:  # refused: the next message of the kind gets the slot
                self._claimed -= 1
            raise
        with self._lock:
            self.sent.append(SentEvent(merchant, source, message_id, kind, subject_id, at))

    def __repr__(self) -> str:
        return f"EventSampler({self.source!r}, {self.kind!r}, limit={self.limit})"
