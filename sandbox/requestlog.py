"""The API request log both sandboxes keep (``GET /_admin/requests``), and its ASGI middleware.

Each entry: ``method``, ``path`` (no query string), ``status_code`` (the status the sandbox
started to answer; ``0`` when it never answered), ``at`` (unix seconds), ``fault`` when one
was injected (``error``, ``rate_limit``, ``hang``, ``commit_then_fail:<mode>``), plus what a
sandbox adds per route (Returnly: the refund POST's ``idempotency_key``). Never a token or a
body. The last ``REQUEST_LOG_SIZE`` entries are kept; every entry ever appended has an index
(0, 1, ...) so a caller can page with ``?since=<index>``, and the per-template counts of
:meth:`RequestLog.summary` cover every request since the last reset, not just those kept.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.faults import ADMIN_PREFIX, FAULT_SCOPE_KEY

REQUEST_LOG_SIZE = 10_000
_ID_SEGMENT = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?=\.|$)"
)
Extra = Callable[[Scope], dict[str, Any] | None]
"""Per-sandbox fields for an entry, read from the request scope (headers, path)."""


@functools.lru_cache(maxsize=8192)
def path_template(path: str) -> str:
    """The path with ids (digits, uuids; an extension is kept) replaced by ``{id}``.

    ``/returns/100123.json`` -> ``/returns/{id}.json``;
    ``/acme/api/v1/return-labels/9302020514123.pdf`` -> ``/acme/api/v1/return-labels/{id}.pdf``.
    """
    return "/".join(_ID_SEGMENT.sub("{id}", seg) for seg in path.split("/"))


def header(scope: Scope, name: bytes) -> str | None:
    """One request header (lower-case name) from an ASGI scope."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class RequestLog:
    """Thread-safe ring of request entries with a global index and running summary counts."""

    def __init__(self, maxlen: int = REQUEST_LOG_SIZE) -> None:
        self._lock = threading.Lock()
        self._items: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._total = 0
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self.generation = 0
        """Bumped by :meth:`clear`: a request that started before a reset is not logged."""

    def append(self, entry: dict[str, Any], generation: int | None = None) -> None:
        """Add one entry (needs ``method``, ``path``, ``status_code``)."""
        key = (str(entry["method"]), path_template(str(entry["path"])), int(entry["status_code"]))
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            self._items.append(entry)
            self._total += 1
            self._counts[key] += 1

    def clear(self) -> None:
        """Forget every entry and count; indexes restart at 0."""
        with self._lock:
            self._items.clear()
            self._total = 0
            self._counts.clear()
            self.generation += 1

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with self._lock:
            return iter(list(self._items))

    def since(self, index: int, limit: int | None = None) -> tuple[int, list[dict[str, Any]]]:
        """Entries from ``index`` on (at most ``limit``) and the index to ask for next.

        When ``index`` is older than the oldest entry kept, paging starts at the oldest
        (``next - len(entries) > index`` tells the caller some were lost).
        """
        with self._lock:
            first = self._total - len(self._items)
            start = max(index, first)
            if start >= self._total:
                return self._total, []
            stop = None if limit is None else start - first + limit
            entries = list(itertools.islice(self._items, start - first, stop))
            return start + len(entries), entries

    def summary(self) -> dict[str, Any]:
        """Counts by (method, path template, status), most frequent first."""
        with self._lock:
            items = sorted(self._counts.items(), key=lambda kv: (-kv[1], kv[0]))
            total = self._total
        return {
            "total": total,
            "counts": [
                {"method": m, "path": p, "status_code": s, "count": n} for (m, p, s), n in items
            ],
        }

    def page(self, since: int | None, limit: int | None) -> Any:
        """The ``GET /_admin/requests`` answer: a bare list, or ``{next, requests}`` when paged."""
        if since is None and limit is None:
            return list(self)
        nxt, entries = self.since(since or 0, limit)
        return {"next": nxt, "requests": entries}


class RequestLogMiddleware:
    """Appends one entry per API request (not ``/_admin``); add it last, so it is outermost
    and also sees the requests an injected fault answered."""

    def __init__(self, app: ASGIApp, log: RequestLog, extra: Extra | None = None) -> None:
        self.app = app
        self.log = log
        self.extra = extra

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Record method, path, the status started and any injected fault."""
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        status = 0
        recorded = False
        generation = self.log.generation

        def record() -> None:
            nonlocal recorded
            recorded = True
            entry: dict[str, Any] = {
                "method": scope["method"],
                "path": scope["path"],
                "status_code": status,
                "at": time.time(),
            }
            fault = scope.get(FAULT_SCOPE_KEY)
            if fault is not None:
                entry["fault"] = fault
            if self.extra is not None:
                entry.update(self.extra(scope) or {})
            self.log.append(entry, generation)

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Before the last byte leaves: whoever got the answer finds it in the log.
                record()
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if not recorded:
                record()
