"""In-memory AMS state: RMAs indexed by id and customer_identifier, callbacks, callback holds.

Sized for tens of thousands of RMAs: lookups are dict hits, listings walk a created-date
index sorted lazily, and a filtered id list is cached until the next write. Every record
keeps its history (``_history``: what changed, when, by which action) for ``/_admin/export``;
keys starting with ``_`` never reach the API.
"""

from __future__ import annotations

import bisect
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from sandbox.ams.records import iso, parse_dt

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Wall clock in UTC."""
    return datetime.now(UTC)


def public_state(rec: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of the record's own fields (no ``_`` bookkeeping keys)."""
    fields = {k: v for k, v in rec.items() if not k.startswith("_")}
    copied: dict[str, Any] = orjson.loads(orjson.dumps(fields))
    return copied


def _diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    changes = {k: {"from": old.get(k), "to": v} for k, v in new.items() if old.get(k) != v}
    changes.update({k: {"from": v, "to": None} for k, v in old.items() if k not in new})
    return changes


@dataclass
class Query:
    """GET /rmas filters, already parsed."""

    ids: list[str] = field(default_factory=list)
    cids: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    sdt: datetime | None = None
    edt: datetime | None = None


class RmaStore:
    """Thread-safe RMA records (wire-form dicts) with the indexes GET /rmas needs."""

    def __init__(self, clock: Clock = utcnow) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget everything."""
        with self.lock:
            self._by_id: dict[str, dict[str, Any]] = {}
            self._ids_by_cid: dict[str, list[str]] = {}
            self._live_by_cid: dict[str, str] = {}
            self._order: list[tuple[datetime, int, str]] = []
            self._sorted = True
            self._seq = 0
            self._version = 0
            self._cache: dict[tuple[Any, ...], tuple[int, list[str]]] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def now_iso(self) -> str:
        """The sandbox clock as RFC3339."""
        return iso(self.clock()) or ""

    def _touch(self) -> None:
        self._version += 1

    def add(self, rec: dict[str, Any], action: str = "create") -> dict[str, Any]:
        """Insert a record (needs ``id``; ``created_at`` defaults to now)."""
        with self.lock:
            now = self.now_iso()
            if rec.get("created_at") is None:
                rec["created_at"] = now
            rec.setdefault("updated_at", rec["created_at"])
            rec["_snapshot"] = public_state(rec)
            rec["_history"] = [
                {
                    "at": now,
                    "action": action,
                    "version": rec.get("version"),
                    "status": rec.get("status"),
                    "changes": None,
                }
            ]
            created = parse_dt(rec["created_at"])
            self._by_id[rec["id"]] = rec
            cid = rec.get("customer_identifier")
            if cid is not None:
                self._ids_by_cid.setdefault(cid, []).append(rec["id"])
                if rec.get("status") != "deleted":
                    self._live_by_cid[cid] = rec["id"]
            self._seq += 1
            key = (created, self._seq, rec["id"])
            if self._order and key < self._order[-1]:
                self._sorted = False
            self._order.append(key)
            self._touch()
            return rec

    def get(self, rma_id: str) -> dict[str, Any] | None:
        """Record by AMS id."""
        return self._by_id.get(rma_id)

    def live(self, cid: object) -> dict[str, Any] | None:
        """The non-deleted record with this customer_identifier (None for a non-string)."""
        rma_id = self._live_by_cid.get(cid) if isinstance(cid, str) else None
        return None if rma_id is None else self._by_id[rma_id]

    def changed(self, rec: dict[str, Any], action: str = "change") -> None:
        """Call after mutating a record in place (keeps the cid index, caches and history)."""
        with self.lock:
            cid = rec.get("customer_identifier")
            if cid is not None and rec.get("status") == "deleted":
                if self._live_by_cid.get(cid) == rec["id"]:
                    del self._live_by_cid[cid]
                    # Another live RMA with this identifier (duplicate_identifiers=accept)?
                    for other in reversed(self._ids_by_cid.get(cid, [])):
                        if self._by_id[other].get("status") != "deleted":
                            self._live_by_cid[cid] = other
                            break
            elif cid is not None:
                self._live_by_cid[cid] = rec["id"]
            state = public_state(rec)
            changes = _diff(rec.get("_snapshot") or {}, state)
            if changes:
                rec.setdefault("_history", []).append(
                    {
                        "at": self.now_iso(),
                        "action": action,
                        "version": rec.get("version"),
                        "status": rec.get("status"),
                        "changes": changes,
                    }
                )
                rec["_snapshot"] = state
            self._touch()

    def all_records(self) -> list[dict[str, Any]]:
        """Every record, soft-deleted ones included, oldest created first."""
        with self.lock:
            return [self._by_id[i] for i in self._ordered_ids(None, None)]

    def _ordered_ids(self, sdt: datetime | None, edt: datetime | None) -> Iterable[str]:
        if not self._sorted:
            self._order.sort()
            self._sorted = True
        lo = 0 if sdt is None else bisect.bisect_left(self._order, (sdt,))
        hi = len(self._order)
        if edt is not None:
            hi = bisect.bisect_right(self._order, (edt, float("inf")))
        return (key[2] for key in self._order[lo:hi])

    def search(self, q: Query) -> list[str]:
        """Ids matching the query in created order (oldest first)."""
        with self.lock:
            key = (tuple(q.ids), tuple(q.cids), tuple(q.statuses), q.sdt, q.edt)
            cached = self._cache.get(key)
            if cached and cached[0] == self._version:
                return cached[1]
            if q.ids or q.cids:
                wanted = {i for i in q.ids if i in self._by_id}
                for cid in q.cids:
                    wanted.update(self._ids_by_cid.get(cid, ()))
                candidates: Iterable[str] = [
                    i for i in self._ordered_ids(q.sdt, q.edt) if i in wanted
                ]
            else:
                candidates = self._ordered_ids(q.sdt, q.edt)
            statuses = set(q.statuses)
            out = [
                i for i in candidates if not statuses or self._by_id[i].get("status") in statuses
            ]
            self._cache = {key: (self._version, out)}
            return out


@dataclass
class CallbackReg:
    """A registered callback; the token stays inside the sandbox."""

    id: str
    url: str
    message_type: str
    api_version: str
    token: str | None = None
    created_at: str = ""
    updated_at: str = ""
    deleted_at: str | None = None

    def export(self) -> dict[str, Any]:
        """The ``/_admin/export`` form: the public fields, times, whether a token is set."""
        return {
            **self.public(),
            "has_token": self.token is not None,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "deleted_at": self.deleted_at,
        }

    def public(self) -> dict[str, Any]:
        """The GET /callbacks form (the token is not echoed back)."""
        return {
            "id": self.id,
            "url": self.url,
            "message_type": self.message_type,
            "api_version": self.api_version,
        }


class CallbackStore:
    """Registered callbacks, unique per (url, message_type), and callback holds."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget everything."""
        with self.lock:
            self._items: dict[str, CallbackReg] = {}
            self.deleted: list[CallbackReg] = []
            self.holds: dict[str, str] = {}

    def upsert(
        self, url: str, message_type: str, api_version: str, token: str | None
    ) -> tuple[CallbackReg, bool]:
        """Register, or update the existing (url, message_type) pair; True when new."""
        with self.lock:
            now = iso(utcnow()) or ""
            for reg in self._items.values():
                if reg.url == url and reg.message_type == message_type:
                    reg.api_version, reg.token, reg.updated_at = api_version, token, now
                    return reg, False
            reg = CallbackReg(str(uuid.uuid4()), url, message_type, api_version, token, now, now)
            self._items[reg.id] = reg
            return reg, True

    def list(self, message_type: str = "all") -> list[CallbackReg]:
        """Callbacks of one type, or all."""
        with self.lock:
            return [r for r in self._items.values() if message_type in ("all", r.message_type)]

    def delete(self, ids: Iterable[str]) -> int:
        """Delete by id; unknown ids are ignored. Returns how many went."""
        with self.lock:
            now = iso(utcnow())
            gone = [reg for i in ids if (reg := self._items.pop(i, None)) is not None]
            for reg in gone:
                reg.deleted_at = now
            self.deleted.extend(gone)
            return len(gone)
