"""Webhook delivery of the Returnly sandbox: signed, at least once, in a background thread.

Wire format (ours: the real one was never published, contracts §A.6)::

    POST <subscription url>
    X-Returnly-Event: return.authorized
    X-Returnly-Delivery: <uuid, equal to body.id>
    X-Returnly-Timestamp: <unix seconds>
    X-Returnly-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.".encode() + raw body)>

    {"id": <uuid>, "event": "return.authorized", "created_at": <iso>, "data": <return document>}

A non-2xx answer or a connection error is retried a few times with a short backoff. The
FaultState's delivery faults (duplicates, reordering) are applied to each batch sent.
"""

from __future__ import annotations

import hashlib
import hmac
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

    max_attempts: int = 4
    backoff_s: float = 0.05
    timeout_s: float = 10.0


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
        """Send everything queued now (even when held) and wait until done; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            self._flush = True
            if self._pending:
                self._ensure_worker()
            self._cond.notify_all()
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            self._flush = False
            return True

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
            self.log = []
            self.hold = False
            self.config = DeliveryConfig()
            self._cond.notify_all()

    def pending(self) -> int:
        """Messages not yet fully delivered."""
        with self._cond:
            return len(self._pending) + self._busy

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

    def _run(self, stop: threading.Event) -> None:
        with httpx.Client() as client:
            while not stop.is_set():
                with self._cond:
                    while not stop.is_set() and not (
                        self._pending and (self._flush or not self.hold)
                    ):
                        self._cond.wait(0.5)
                    if stop.is_set():
                        return
                    batch = self.faults.plan(self._pending)
                    self._pending = []
                    self._busy = len(batch)
                for msg in batch:
                    try:
                        self._deliver(client, msg, stop)
                    finally:
                        with self._cond:
                            self._busy -= 1
                            self._cond.notify_all()

    def _deliver(self, client: httpx.Client, msg: Message, stop: threading.Event) -> None:
        cfg = self.config
        for attempt in range(1, cfg.max_attempts + 1):
            if msg.generation != self._generation or stop.is_set():
                return
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
                resp = client.post(
                    msg.url, content=msg.body, headers=headers, timeout=cfg.timeout_s
                )
                status = resp.status_code
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            self._record(msg, attempt, status, error)
            if status is not None and 200 <= status < 300:
                return
            if attempt < cfg.max_attempts:
                stop.wait(cfg.backoff_s * 2 ** (attempt - 1))
        logger.warning(
            "webhook %s to subscription %s gave up after %d attempts",
            msg.id,
            msg.subscription_id,
            cfg.max_attempts,
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
