"""Outbound callback delivery: a background thread, at least once, retries, faults applied.

Each batch of newly due messages goes through :meth:`FaultState.plan_copies` once
(duplicates keep their ``message_id``, reordering shuffles the batch, a random delay per copy
lets copies overtake each other); every copy is an entry in a due-time heap. A failed attempt
(non-2xx, timeout, refused connection) is rescheduled, doubling from ``retry_base_s`` up to
``retry_max_s``, until ``max_attempts`` (the defaults ride out a receiver that is down for
~30 s). A message type on hold (``/callback_holds``) waits until released, which also makes
batches big enough to reorder. The log keeps the last ``MAX_LOG`` attempts, never a token.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from sandbox.faults import FaultState

logger = logging.getLogger(__name__)
MAX_LOG = 10_000

TokenDelivery = Literal["bearer", "raw_header", "body"]


class DeliverySettings(BaseModel):
    """Admin-tunable delivery behaviour (``PUT /_admin/settings``)."""

    model_config = ConfigDict(extra="forbid")

    token_delivery: TokenDelivery = "bearer"
    """How the callback token travels: ``Authorization: Bearer``, bare ``Authorization``, body."""
    envelope_as_array: bool = False
    """Send ``[envelope]`` (the spec schema) instead of one envelope (every spec example)."""
    max_attempts: int = Field(10, ge=1, le=50)
    retry_base_s: float = Field(0.5, ge=0, le=10)
    """First retry delay; doubles per attempt (the real service backs off for up to 24 h)."""
    retry_max_s: float = Field(5.0, ge=0, le=300)
    """Cap of the retry delay."""
    timeout_s: float = Field(5.0, gt=0, le=60)

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.retry_base_s * 2 ** (attempt - 1), self.retry_max_s))


@dataclass
class Outbound:
    """One message to one callback URL."""

    url: str
    message_type: str
    envelope: dict[str, Any]
    token: str | None
    delivery_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    attempts: int = 0
    planned: bool = False
    """Delivery faults were applied (a delayed copy or a retry is not planned again)."""
    generation: int = 0
    """The deliverer's generation when queued; a reset abandons older messages."""

    @property
    def message_id(self) -> str:
        """The envelope's message id (shared by duplicates)."""
        return str(self.envelope.get("message_id", ""))


def _redacted(envelope: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k == "token" else v) for k, v in envelope.items()}


class Deliverer:
    """Queue + worker thread that POSTs callback messages."""

    def __init__(self, faults: FaultState, settings: DeliverySettings | None = None) -> None:
        self.faults = faults
        self.settings = settings or DeliverySettings()
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, Outbound]] = []
        self._held: list[Outbound] = []
        self._holds: set[str] = set()
        self._in_flight = 0
        self._seq = itertools.count()
        self._generation = 0
        self.log: list[dict[str, Any]] = []
        self._thread: threading.Thread | None = None
        self._stop = False
        self._client = httpx.Client()

    # --- queue ----------------------------------------------------------------------------

    def enqueue(self, messages: list[Outbound]) -> None:
        """Queue messages together (one batch for reordering); starts the worker if needed."""
        with self._cond:
            for m in messages:
                m.generation = self._generation
                if m.message_type in self._holds:
                    self._held.append(m)
                else:
                    heapq.heappush(self._due, (time.monotonic(), next(self._seq), m))
            self._ensure_thread()
            self._cond.notify_all()

    def hold(self, message_type: str) -> None:
        """Pause delivery of one message type."""
        with self._cond:
            self._holds.add(message_type)

    def release(self, message_type: str) -> None:
        """Resume a message type and queue everything held for it in one batch."""
        with self._cond:
            self._holds.discard(message_type)
            keep = [m for m in self._held if m.message_type != message_type]
            freed = [m for m in self._held if m.message_type == message_type]
            self._held = keep
            now = time.monotonic()
            for m in freed:
                heapq.heappush(self._due, (now, next(self._seq), m))
            self._ensure_thread()
            self._cond.notify_all()

    @property
    def holds(self) -> list[str]:
        """Message types on hold."""
        with self._cond:
            return sorted(self._holds)

    def pending(self) -> int:
        """Messages not yet delivered or given up (held ones included)."""
        with self._cond:
            return len(self._due) + len(self._held) + self._in_flight

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until nothing is due or in flight (held messages stay held)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._due or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def reset(self) -> None:
        """Drop queued messages, holds and the log (the worker keeps running; a message in
        flight is finished but neither logged nor retried)."""
        with self._cond:
            self._generation += 1
            self._due.clear()
            self._held.clear()
            self._holds.clear()
            self.log.clear()
            self.settings = DeliverySettings()

    def close(self) -> None:
        """Stop the worker and close the HTTP client."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._client.close()

    # --- worker ---------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._client.is_closed:
            # The app was shut down and served again: start over with a fresh pool.
            self._client = httpx.Client()
        if self._thread is None or not self._thread.is_alive():
            self._stop = False
            self._thread = threading.Thread(target=self._run, daemon=True, name="ams-delivery")
            self._thread.start()

    def _take_due(self) -> list[Outbound] | None:
        with self._cond:
            while not self._stop:
                now = time.monotonic()
                if self._due and self._due[0][0] <= now:
                    ready: list[Outbound] = []
                    fresh: list[Outbound] = []
                    while self._due and self._due[0][0] <= now:
                        m = heapq.heappop(self._due)[2]
                        (ready if m.planned else fresh).append(m)
                    seen: set[int] = set()
                    for m, delay in self.faults.plan_copies(fresh) if fresh else ():
                        # A duplicate is a separate delivery of the same message (same id).
                        copy = replace(m, delivery_id=str(uuid.uuid4())) if id(m) in seen else m
                        seen.add(id(m))
                        copy.planned = True
                        if delay > 0:
                            heapq.heappush(self._due, (now + delay, next(self._seq), copy))
                        else:
                            ready.append(copy)
                    if ready:
                        self._in_flight += len(ready)
                        return ready
                    continue
                wait = self._due[0][0] - now if self._due else 0.5
                self._cond.wait(min(wait, 0.5))
            return None

    def _run(self) -> None:
        while True:
            batch = self._take_due()
            if batch is None:
                return
            for message in batch:
                try:
                    self._send(message)
                finally:
                    with self._cond:
                        self._in_flight -= 1
                        self._cond.notify_all()

    def _request(self, m: Outbound) -> tuple[dict[str, str], dict[str, Any] | list[Any]]:
        s = self.settings
        headers = {"Content-Type": "application/json", "User-Agent": "ams-sandbox-callbacks"}
        envelope = dict(m.envelope)
        if m.token is not None:
            if s.token_delivery == "bearer":
                headers["Authorization"] = f"Bearer {m.token}"
            elif s.token_delivery == "raw_header":
                headers["Authorization"] = m.token
            else:
                envelope["token"] = m.token
        return headers, ([envelope] if s.envelope_as_array else envelope)

    def _send(self, m: Outbound) -> None:
        if m.generation != self._generation:
            return
        m.attempts += 1
        headers, body = self._request(m)
        entry: dict[str, Any] = {
            "delivery_id": m.delivery_id,
            "message_id": m.message_id,
            "url": m.url,
            "attempt": m.attempts,
            "token_delivery": self.settings.token_delivery if m.token else None,
            "envelope": _redacted(m.envelope),
            "at": time.time(),
        }
        try:
            response = self._client.post(
                m.url, json=body, headers=headers, timeout=self.settings.timeout_s
            )
            entry["status_code"] = response.status_code
            ok = response.is_success
        except httpx.HTTPError as exc:
            entry["error"] = type(exc).__name__
            ok = False
        entry["delivered"] = ok
        with self._cond:
            if m.generation != self._generation:
                return
            if len(self.log) >= MAX_LOG:
                del self.log[: MAX_LOG // 10]
            self.log.append(entry)
            if not ok and m.attempts < self.settings.max_attempts:
                delay = self.settings.retry_delay(m.attempts)
                heapq.heappush(self._due, (time.monotonic() + delay, next(self._seq), m))
                self.faults.count("redelivered")
            elif not ok:
                entry["gave_up"] = True
                logger.warning("gave up delivering %s to %s", m.message_id, m.url)
