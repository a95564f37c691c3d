"""Webhook delivery of the Returnly sandbox: signed, at least once, in a background thread.

Wire format (ours: the real one was never published, contracts §A.6)::

    POST <subscription url>
    X-Returnly-Event: return.authorized
    X-Returnly-Delivery: <uuid, equal to body.id>
    X-Returnly-Timestamp: <unix seconds>
    X-Returnly-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.".encode() + raw body)>

    {"id": <uuid>, "event": "return.authorized", "created_at": <iso>, "data": <return document>}

A non-2xx answer, a timeout or a connection error is retried later (at least once): up to
``max_attempts`` attempts, the wait doubling from ``backoff_s`` up to ``max_backoff_s`` (the
defaults ride out a receiver that is down for ~30 s). A retry is rescheduled, not slept on,
so the other messages keep flowing. The FaultState's delivery faults (duplicates, reordering,
random per-copy delays) are applied to each batch queued; every copy is one entry in a
due-time heap, so delayed copies overtake each other.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

from sandbox.faults import FaultState
from sandbox.returnly.render import Resource, iso
from sandbox.returnly.store import ReturnlyStore, utcnow

logger = logging.getLogger(__name__)
MAX_LOG = 10_000


def redact(url: str) -> str:
    """The URL without query or fragment: receivers often put a token there (§A.8.5)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for one attempt."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


@dataclass
class DeliveryConfig:
    """Retry tuning; tests shorten it so nothing waits long."""

    max_attempts: int = 10
    backoff_s: float = 0.5
    """Wait before the first retry; doubles per attempt, capped at ``max_backoff_s``."""
    timeout_s: float = 10.0
    max_backoff_s: float = 5.0

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s))


@dataclass(frozen=True)
class Message:
    """One event for one subscription; duplicates reuse the same object (and id)."""

    id: str
    event: str
    subscription_id: str
    url: str
    secret: str
    body: bytes
    generation: int


@dataclass
class _Copy:
    """One copy of a message to send (duplicates are separate copies of the same message)."""

    msg: Message
    attempts: int = 0


class WebhookDispatcher:
    """Queues messages on status changes and sends them from a worker thread.

    ``hold`` keeps messages queued until :meth:`flush`, which sends the whole queue as one
    batch: that is how a test gets a deterministic reorder.
    """

    def __init__(self, store: ReturnlyStore, faults: FaultState) -> None:
        self.store = store
        self.faults = faults
        self.config = DeliveryConfig()
        self.hold = False
        self.log: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._pending: list[Message] = []
        self._due: list[tuple[float, int, _Copy]] = []
        self._seq = itertools.count()
        self._busy = 0
        self._flush = False
        self._generation = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        store.listener = self.notify

    # --- producer side ---------------------------------------------------------------------

    def notify(self, event: str, document: Resource) -> None:
        """Queue one message per subscriber; the body is serialized now (a snapshot)."""
        subs = self.store.subscribers(event)
        if not subs:
            return
        created = iso(utcnow())
        with self._cond:
            for sub in subs:
                mid = str(uuid.uuid4())
                body = orjson.dumps(
                    {"id": mid, "event": event, "created_at": created, "data": document}
                )
                self._pending.append(
                    Message(mid, event, sub.id, sub.url, sub.secret, body, self._generation)
                )
            self._ensure_worker()
            self._cond.notify_all()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Send everything queued now (even when held) and wait until done; False on timeout.

        Done includes copies still waiting for their delay or for a retry.
        """
        deadline = time.monotonic() + timeout_s
        with self._cond:
            self._flush = True
            try:
                if self._pending or self._due:
                    self._ensure_worker()
                self._cond.notify_all()
                while self._pending or self._due or self._busy:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
                return True
            finally:
                self._flush = False

    def set_hold(self, hold: bool) -> None:
        """Hold the queue (until a flush) or release it."""
        with self._cond:
            self.hold = hold
            self._cond.notify_all()

    def reset(self) -> None:
        """Drop queued messages and the log; messages in flight are abandoned."""
        with self._cond:
            self._generation += 1
            self._pending.clear()
            self._due.clear()
            self.log = []
            self.hold = False
            self.config = DeliveryConfig()
            self._cond.notify_all()

    def pending(self) -> int:
        """Message copies not yet fully delivered (queued, waiting, retrying or in flight)."""
        with self._cond:
            return len(self._pending) + len(self._due) + self._busy

    def close(self) -> None:
        """Stop the worker thread (queued messages are dropped)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None
        self._stop = threading.Event()

    # --- worker side -----------------------------------------------------------------------

    def _ensure_worker(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), daemon=True, name="returnly-webhooks"
            )
            self._thread.start()

    def _schedule(self, copy: _Copy, at: float) -> None:
        heapq.heappush(self._due, (at, next(self._seq), copy))

    def _take_ready(self, stop: threading.Event) -> list[_Copy] | None:
        """Wait for copies that are due; plan newly queued messages on the way. None: stop."""
        with self._cond:
            while not stop.is_set():
                now = time.monotonic()
                if self._pending and (self._flush or not self.hold):
                    for msg, delay in self.faults.plan_copies(self._pending):
                        self._schedule(_Copy(msg), now + delay)
                    self._pending = []
                if self._due and self._due[0][0] <= now:
                    ready: list[_Copy] = []
                    while self._due and self._due[0][0] <= now:
                        ready.append(heapq.heappop(self._due)[2])
                    self._busy += len(ready)
                    return ready
                wait = self._due[0][0] - now if self._due else 0.5
                self._cond.wait(min(wait, 0.5))
            return None

    def _run(self, stop: threading.Event) -> None:
        with httpx.Client() as client:
            while True:
                ready = self._take_ready(stop)
                if ready is None:
                    return
                for copy in ready:
                    try:
                        self._attempt(client, copy, stop)
                    finally:
                        with self._cond:
                            self._busy -= 1
                            self._cond.notify_all()

    def _attempt(self, client: httpx.Client, copy: _Copy, stop: threading.Event) -> None:
        """One attempt of one copy; a failure is rescheduled until ``max_attempts``."""
        msg = copy.msg
        if msg.generation != self._generation or stop.is_set():
            return
        cfg = self.config
        copy.attempts += 1
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "returnly-sandbox-webhooks",
            "X-Returnly-Event": msg.event,
            "X-Returnly-Delivery": msg.id,
            "X-Returnly-Timestamp": ts,
            "X-Returnly-Signature": sign(msg.secret, ts, msg.body),
        }
        status: int | None = None
        error: str | None = None
        try:
            resp = client.post(msg.url, content=msg.body, headers=headers, timeout=cfg.timeout_s)
            status = resp.status_code
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        self._record(msg, copy.attempts, status, error)
        if status is not None and 200 <= status < 300:
            return
        with self._cond:
            if msg.generation != self._generation:
                return
            if copy.attempts < cfg.max_attempts:
                self._schedule(copy, time.monotonic() + cfg.retry_delay(copy.attempts))
                self.faults.count("redelivered")
                return
        logger.warning(
            "webhook %s to subscription %s gave up after %d attempts",
            msg.id,
            msg.subscription_id,
            copy.attempts,
        )

    def _record(self, msg: Message, attempt: int, status: int | None, error: str | None) -> None:
        with self._cond:
            if msg.generation != self._generation:
                return
            if len(self.log) >= MAX_LOG:
                del self.log[: MAX_LOG // 10]
            self.log.append(
                {
                    "delivery_id": msg.id,
                    "event": msg.event,
                    "subscription_id": msg.subscription_id,
                    "url": redact(msg.url),
                    "attempt": attempt,
                    "status_code": status,
                    "error": error,
                    "at": iso(utcnow()),
                }
            )
