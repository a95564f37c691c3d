"""Read both systems for a window, concurrently, and close the gaps between them.

Phase 1 runs the listing passes side by side in threads: Returnly's returns updated in the
window (``min_updated_at`` is its only proven filter), AMS's RMAs created in the window (read as
a few concurrent date slices, since its offset paging is sequential) and, when open items are
included, AMS's open RMAs created earlier (one pass per open status). Phase 2 fetches by id
what one side needs to make sense of the other: the returns behind open ledger links and
behind in-scope RMAs, and the RMAs of in-scope returns created before the window (their RMAs
predate it too). Without phase 2, an old open return would look like it has no RMA.

Every page is mapped to frame rows as it arrives (:mod:`stages.reconcile.rows`), so the API
models of a night never pile up: 50,000 returns and RMAs peak at ~0.6 GiB instead of ~2 GiB.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Final, TypeVar

from clients.ams import MAX_IDS_PER_QUERY, AmsClient, Rma, in_batches
from clients.ams.statuses import AMS_OPEN_STATUSES
from core.mapping import customer_identifier_for
from core.mapping.identity import CUSTOMER_IDENTIFIER_PREFIX, HASHED_IDENTIFIER_PREFIX
from core.merchant import MerchantConfig
from ledger import Ledger, Link
from platforms import PlatformLike, Return, ReturnsPlatform, as_platform
from stages.reconcile.ams_frame import RmaSink
from stages.reconcile.ledger_frame import read_links
from stages.reconcile.returnly_frame import ReturnSink
from stages.reconcile.window import (
    LEDGER_FINAL_STAGES,
    RETURNLY_OPEN_STATUSES,
    Window,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_WORKERS: Final = 8
"""Threads for the listing passes and for the by-id reads of phase 2."""
AMS_SLICES: Final = 4
"""The AMS created-date window is read as this many date slices at once."""
PAGE: Final = 100
"""Records mapped to rows at a time."""


@dataclass(frozen=True, slots=True)
class FetchTimings:
    """Seconds spent per side (phase 1, concurrent), on the by-id closure and in total."""

    returnly_s: float = 0.0
    ams_s: float = 0.0
    closure_s: float = 0.0
    wall_s: float = 0.0


@dataclass(slots=True)
class Sides:
    """What was read, already mapped to frame rows, and the ledger's links (one snapshot)."""

    returns: ReturnSink
    rmas: RmaSink
    links: list[Link]
    timings: FetchTimings = field(default_factory=FetchTimings)
    returns_by_id: int = 0
    """Returns read one by one in phase 2."""
    rmas_by_id: int = 0
    """RMAs read by id or identifier in phase 2."""


def return_id_for_identifier(customer_identifier: str) -> str | None:
    """Invert :func:`core.mapping.customer_identifier_for` (``None`` when it cannot be)."""
    if customer_identifier.startswith(HASHED_IDENTIFIER_PREFIX):
        return None
    if customer_identifier.startswith(CUSTOMER_IDENTIFIER_PREFIX):
        return customer_identifier[len(CUSTOMER_IDENTIFIER_PREFIX) :] or None
    return None


def _batches(items: Iterable[T], size: int = PAGE) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _timed(fn: Callable[[], int]) -> tuple[int, float]:
    count = fn()
    return count, time.perf_counter()


def _returnly_window(client: ReturnsPlatform, window: Window, sink: ReturnSink) -> int:
    """Returns updated since the window opened, kept when created in it or still open."""
    pages = client.iter_changed_returns(updated_since=window.start)
    kept = (r for r in pages if window.covers_return(r.created_at, r.status))
    return sum(sink.add(batch) for batch in _batches(kept))


def _returnly_old_open(client: ReturnsPlatform, window: Window, sink: ReturnSink) -> int:
    """Open returns not updated since the window opened (only with a server status filter)."""
    pages = client.iter_changed_returns(
        statuses=RETURNLY_OPEN_STATUSES, updated_before=window.start
    )
    return sum(sink.add(batch) for batch in _batches(pages))


def _ams_pages(
    client: AmsClient,
    sink: RmaSink,
    created_from: datetime | None,
    created_to: datetime | None,
    status: str | None,
) -> int:
    pages = client.iter_rmas(status=status, created_from=created_from, created_to=created_to)
    return sum(sink.add(batch) for batch in _batches(pages))


def date_slices(
    start: datetime, end: datetime, count: int
) -> list[tuple[datetime, datetime | None]]:
    """``count`` consecutive created-date slices from ``start``; the last one is open-ended."""
    count = max(1, count)
    step = (end - start) / count
    bounds: list[tuple[datetime, datetime | None]] = []
    for i in range(count):
        upper = start + step * (i + 1) if i < count - 1 else None
        bounds.append((start + step * i, upper))
    return bounds


def _get_return(client: ReturnsPlatform, return_id: str) -> list[Return]:
    try:
        return [client.read_return(return_id, frame=True)]
    except client.errors.not_found:
        return []


def _rmas_by_id(client: AmsClient, ids: Sequence[str]) -> list[Rma]:
    return client.get_rmas_by_id(list(ids))


def _rma_by_cid(client: AmsClient, cid: str) -> list[Rma]:
    found = client.get_rma_by_cid(cid)
    return [found] if found is not None else []


def fetch_sides(
    merchant: MerchantConfig,
    window: Window,
    *,
    returnly: PlatformLike,
    ams: AmsClient,
    ledger: Ledger,
    workers: int = DEFAULT_WORKERS,
    ams_slices: int = AMS_SLICES,
) -> Sides:
    """Every return and RMA in the window (see the module docstring), plus the ledger links."""
    platform = as_platform(returnly)
    started = time.perf_counter()
    links = read_links(ledger, merchant.name)
    returns = ReturnSink(merchant.name)
    rmas = RmaSink(merchant.name, merchant.policy, window.now)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile-fetch") as pool:
        r_futs: list[Future[tuple[int, float]]] = [
            pool.submit(_timed, partial(_returnly_window, platform, window, returns))
        ]
        if window.include_open and platform.send_status_filter:
            r_futs.append(
                pool.submit(_timed, partial(_returnly_old_open, platform, window, returns))
            )
        passes: list[tuple[datetime | None, datetime | None, str | None]] = [
            (lo, hi, None) for lo, hi in date_slices(window.start, window.now, ams_slices)
        ]
        if window.include_open:
            passes += [(None, window.start, status) for status in AMS_OPEN_STATUSES]
        a_futs = [pool.submit(_timed, partial(_ams_pages, ams, rmas, *p)) for p in passes]
        returnly_s = max(f.result()[1] for f in r_futs) - started
        ams_s = max(f.result()[1] for f in a_futs) - started

    closure_started = time.perf_counter()
    extra_returns = _close_returns(returns, rmas, links, window, platform, workers)
    extra_rmas = _close_rmas(returns, rmas, links, window, ams, workers)
    finished = time.perf_counter()
    logger.info(
        "fetched %d returns and %d RMAs (%d and %d by id) in %.1fs",
        returns.rows.entities,
        rmas.rows.entities,
        extra_returns,
        extra_rmas,
        finished - started,
    )
    return Sides(
        returns=returns,
        rmas=rmas,
        links=links,
        timings=FetchTimings(
            returnly_s=returnly_s,
            ams_s=ams_s,
            closure_s=finished - closure_started,
            wall_s=finished - started,
        ),
        returns_by_id=extra_returns,
        rmas_by_id=extra_rmas,
    )


def _close_returns(
    returns: ReturnSink,
    rmas: RmaSink,
    links: list[Link],
    window: Window,
    client: ReturnsPlatform,
    workers: int,
) -> int:
    """Returns behind open ledger links and behind RMAs whose return was not read yet."""
    by_cid = {lk.customer_identifier: lk.return_id for lk in links}
    wanted: dict[str, None] = {}
    if window.include_open:
        for lk in links:
            if lk.stage not in LEDGER_FINAL_STAGES:
                wanted[lk.return_id] = None
    for cid in sorted(rmas.customer_identifiers):
        rid = by_cid.get(cid) or return_id_for_identifier(cid)
        if rid:
            wanted[rid] = None
    ids = [rid for rid in wanted if rid not in returns]
    if not ids:
        return 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile-returns") as pool:
        found = pool.map(partial(_get_return, client), ids)
        return sum(returns.add(batch) for batch in found)


def _close_rmas(
    returns: ReturnSink,
    rmas: RmaSink,
    links: list[Link],
    window: Window,
    client: AmsClient,
    workers: int,
) -> int:
    """RMAs of in-scope returns created before the window (so were their RMAs)."""
    uuid_by_rid = {lk.return_id: lk.ams_uuid for lk in links if lk.ams_uuid}
    by_uuid: list[str] = []
    by_cid: list[str] = []
    for rid, created in returns.created.items():
        cid = customer_identifier_for(rid)
        if created >= window.start or cid in rmas.customer_identifiers:
            continue
        uuid = uuid_by_rid.get(rid)
        if uuid:
            by_uuid.append(uuid)
        else:
            by_cid.append(cid)
    jobs: list[Callable[[], list[Rma]]] = [
        partial(_rmas_by_id, client, chunk) for chunk in in_batches(by_uuid, MAX_IDS_PER_QUERY)
    ]
    jobs += [partial(_rma_by_cid, client, cid) for cid in by_cid]
    if not jobs:
        return 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile-rmas") as pool:
        return sum(rmas.add(batch) for batch in pool.map(lambda job: job(), jobs))
