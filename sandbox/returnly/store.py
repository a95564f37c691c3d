"""In-memory, thread-safe state of the Returnly sandbox.

Returns are kept in a list sorted by ``(updated_at, id)``, so a time-window query is two
bisections, and the last few filtered id lists are cached until the next change: listing
50,000 returns page by page stays linear.
"""

from __future__ import annotations

import bisect
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.returnly.build import Ids, build_return, make_refund, record_refund
from sandbox.returnly.refunding import RefundRejected, RefundRequest, check_refund
from sandbox.returnly.render import Resource, ReturnRecord, iso, return_document
from sandbox.returnly.settings import SandboxSettings
from sandbox.returnly.specs import ReturnSpec

Listener = Callable[[str, Resource], None]
"""Called with ``("return.<status>", document)`` under the store lock on each status change."""
_MAX_CACHED_QUERIES = 16
_TICK = timedelta(microseconds=1)


def utcnow() -> datetime:
    """The store's default clock."""
    return datetime.now(UTC)


@dataclass
class Subscription:
    """A webhook subscription: one event type (or ``*``) per URL."""

    id: str
    url: str
    event: str
    secret: str
    created_at: datetime

    def public(self, *, with_secret: bool = False) -> Resource:
        """As a ``webhooks`` resource; the secret only when just created."""
        attrs: dict[str, Any] = {
            "url": self.url,
            "event": self.event,
            "created_at": iso(self.created_at),
        }
        if with_secret:
            attrs["secret"] = self.secret
        return {"type": "webhooks", "id": self.id, "attributes": attrs}

    def wants(self, event: str) -> bool:
        """Whether this subscription receives ``event``."""
        return self.event in ("*", event)


class ReturnlyStore:
    """Returns, refunds, idempotency keys and webhook subscriptions behind one lock."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.listener: Listener | None = None
        self.reset()

    def reset(self) -> None:
        """Forget everything (ids restart too) and restore the default settings."""
        with self.lock:
            self.settings = SandboxSettings()
            self.ids = Ids()
            self._records: dict[str, ReturnRecord] = {}
            self._index: list[tuple[datetime, int, str]] = []
            self._by_rma: dict[str, str] = {}
            self._by_tracking: dict[str, str] = {}
            self._idempotency: dict[str, tuple[str, Resource]] = {}
            self._keys_used: set[str] = set()
            self.refund_requests: list[dict[str, Any]] = []
            self.subscriptions: dict[str, Subscription] = {}
            self._sub_seq = 0
            self._version = 0
            self._queries: dict[tuple[Any, ...], list[str]] = {}

    # --- returns ---------------------------------------------------------------------------

    def add_returns(self, specs: Iterable[ReturnSpec]) -> list[ReturnRecord]:
        """Plant returns (no webhooks: planting is not a status change)."""
        with self.lock:
            now = self.clock()
            added = [build_return(spec, self.ids, now) for spec in specs]
            for rec in added:
                self._records[rec.id] = rec
                self._by_rma[rec.attributes["rma"]] = rec.id
                for label in rec.labels:
                    self._by_tracking[label["attributes"]["tracking_number"]] = rec.id
            if len(added) > 8:
                self._index.extend(rec.key for rec in added)
                self._index.sort()
            else:
                for rec in added:
                    bisect.insort(self._index, rec.key)
            self._changed()
            return added

    def get(self, return_id: str) -> ReturnRecord | None:
        """One return, or None."""
        return self._records.get(return_id)

    def find(self, *, rma: str | None, tracking_number: str | None) -> ReturnRecord | None:
        """A return by RMA or by any of its tracking numbers."""
        with self.lock:
            rid = self._by_rma.get(rma) if rma else self._by_tracking.get(tracking_number or "")
            return self._records.get(rid) if rid else None

    def __len__(self) -> int:
        return len(self._records)

    def query(
        self,
        min_updated_at: datetime | None,
        max_updated_at: datetime | None,
        statuses: frozenset[str] | None,
    ) -> list[str]:
        """Ids in list order (updated_at, id) within the window and statuses; cached."""
        with self.lock:
            key = (min_updated_at, max_updated_at, statuses, self._version)
            hit = self._queries.get(key)
            if hit is not None:
                return hit
            lo = 0 if min_updated_at is None else bisect.bisect_left(self._index, (min_updated_at,))
            hi = (
                len(self._index)
                if max_updated_at is None
                else bisect.bisect_right(self._index, (max_updated_at + _TICK,))
            )
            ids = [k[2] for k in self._index[lo:hi]]
            if statuses is not None:
                recs = self._records
                ids = [i for i in ids if recs[i].attributes["status"] in statuses]
            if len(self._queries) >= _MAX_CACHED_QUERIES:
                self._queries.clear()
            self._queries[key] = ids
            return ids

    def all_records(self) -> list[ReturnRecord]:
        """Every return, in id order."""
        with self.lock:
            return sorted(self._records.values(), key=lambda r: int(r.id))

    def records(self, ids: Sequence[str]) -> list[ReturnRecord]:
        """Records for ids (as returned by :meth:`query`)."""
        recs = self._records
        return [recs[i] for i in ids]

    def set_status(self, return_id: str, status: str) -> ReturnRecord:
        """Change a return's status, bump ``updated_at`` and notify webhooks."""
        with self.lock:
            rec = self._records[return_id]
            if rec.status != status:
                rec.attributes["status"] = status
                self._bump(rec)
                self._emit(rec)
            return rec

    def _bump(self, rec: ReturnRecord) -> None:
        """Move a changed return to its new place in the list order."""
        old = rec.key
        i = bisect.bisect_left(self._index, old)
        if i < len(self._index) and self._index[i] == old:
            del self._index[i]
        rec.updated_at = max(self.clock(), rec.updated_at + _TICK)
        rec.attributes["updated_at"] = iso(rec.updated_at)
        rec.touch()
        bisect.insort(self._index, rec.key)
        self._changed()

    def _changed(self) -> None:
        self._version += 1
        self._queries.clear()

    def _emit(self, rec: ReturnRecord) -> None:
        if self.listener is not None:
            document = return_document(rec, empty_to_one=self.settings.empty_to_one)
            self.listener(f"return.{rec.status}", document)

    # --- refunds ---------------------------------------------------------------------------

    def refund(
        self,
        req: RefundRequest,
        *,
        idempotency_key: str | None,
        body_fingerprint: str,
        strict: bool = True,
    ) -> tuple[Resource, bool]:
        """Apply a refund; returns (refund resource, replayed?). Raises RefundRejected.

        ``strict=False`` (the ``refund_idempotency=none`` fault): no replay by key and no
        refusal of a second refund; every request that passes the line checks pays out.
        """
        with self.lock:
            if idempotency_key and strict:
                seen = self._idempotency.get(idempotency_key)
                if seen is not None:
                    if seen[0] != body_fingerprint:
                        raise RefundRejected(
                            422, "Idempotency-Key was already used with a different body"
                        )
                    return seen[1], True
            rec = self.find(rma=req.rma, tracking_number=req.tracking_number)
            if rec is None:
                which = f"rma {req.rma}" if req.rma else f"tracking number {req.tracking_number}"
                raise RefundRejected(422, f"no return with {which}", "/data/attributes")
            picks = check_refund(rec, req, allow_repeat=not strict)
            now = self.clock()
            refund = make_refund(rec, picks, req.deduction, req.note, self.ids, now)
            record_refund(rec, refund, now)
            rec.attributes["status"] = "refunded"
            self._bump(rec)
            if idempotency_key and strict:
                self._idempotency[idempotency_key] = (body_fingerprint, refund)
            if idempotency_key:
                self._keys_used.add(idempotency_key)
            self._emit(rec)
            return refund, False

    def key_used(self, idempotency_key: str | None) -> bool:
        """Whether a refund was already made with this Idempotency-Key."""
        with self.lock:
            return bool(idempotency_key) and idempotency_key in self._keys_used

    def log_refund_request(self, entry: dict[str, Any]) -> None:
        """Keep one POST /refunds.json (body, key, outcome) for ``/_admin/export``."""
        with self.lock:
            self.refund_requests.append(entry)

    def refunds_of(self, return_id: str) -> list[Resource]:
        """Every refund of a return (tests assert there is exactly one)."""
        with self.lock:
            return list(self._records[return_id].refunds)

    # --- webhook subscriptions -------------------------------------------------------------

    def subscribe(self, url: str, event: str, secret: str | None) -> Subscription:
        """Add a subscription; a missing secret is generated."""
        with self.lock:
            self._sub_seq += 1
            sub = Subscription(
                id=str(self._sub_seq),
                url=url,
                event=event,
                secret=secret or secrets.token_hex(24),
                created_at=self.clock(),
            )
            self.subscriptions[sub.id] = sub
            return sub

    def unsubscribe(self, sub_id: str) -> bool:
        """Remove a subscription; False when it did not exist."""
        with self.lock:
            return self.subscriptions.pop(sub_id, None) is not None

    def subscribers(self, event: str) -> list[Subscription]:
        """Subscriptions that receive ``event``."""
        with self.lock:
            return [s for s in self.subscriptions.values() if s.wants(event)]
