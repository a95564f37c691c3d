"""The Prefect rate limit in front of each merchant's Returnly and AMS account.

Clients built by :mod:`runtime.resources` take one slot of the Prefect rate limit
``<system>-<merchant>`` per request when that limit exists (``bridge deploy`` creates them),
a few slots per Prefect call. Prefect is imported inside the calls (~1 s import; see
:mod:`runtime.merchants`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.responses import GlobalConcurrencyLimitResponse

logger = logging.getLogger(__name__)

RATE_SLOTS_PER_CALL = 5
"""Rate-limit slots taken per Prefect call: the hot path pays one call per few requests."""
RATE_WAIT_MAX_S = 3600.0
FAIL_OPEN_LOG_INTERVAL_S = 300.0
"""A rate gate that cannot reach Prefect (and so does not limit) says so at most this often."""
RECHECK_S = 300.0
"""How long a limit's existence is trusted before it is read again (as long as a merchant
block is cached, ``runtime.merchants.BLOCK_TTL_S``; not imported from there, so the rate gate
and the clients need no merchant sources and ``runtime.platforms`` no cycle)."""
_lock = threading.Lock()
_unthrottled_said: set[str] = set()
"""Rate limits already reported missing in this process (said once, on first use)."""


class RateGate:
    """httpx request hook: one slot of a Prefect rate limit per request.

    Slots are taken ``RATE_SLOTS_PER_CALL`` at a time, so the hot path pays one Prefect call
    per few requests. Without a Prefect API it is a no-op. When the limit does not exist, is
    inactive or has no slot decay, requests go through unthrottled and a warning says so on
    the limit's first use in the process (``onboard-check`` fails such a merchant);
    existence is re-checked every ``RECHECK_S``. Fails open when Prefect cannot answer:
    rate limiting protects the APIs, it must not stop the bridge (the HTTP layer still
    honours 429 + Retry-After); that is logged at most once per ``FAIL_OPEN_LOG_INTERVAL_S``.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._left = 0
        self._slots = 0
        self._checked_until = 0.0
        self._next_fail_open_log = 0.0
        self._lock = threading.Lock()

    def _fail_open(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now < self._next_fail_open_log:
            return
        self._next_fail_open_log = now + FAIL_OPEN_LOG_INTERVAL_S
        logger.warning(
            "rate limit %s %s (%s); not limiting (said again in %.0fs at the earliest)",
            self.name,
            what,
            exc,
            FAIL_OPEN_LOG_INTERVAL_S,
        )

    def _refresh(self) -> None:
        from prefect.settings import get_current_settings

        self._slots, self._checked_until = 0, time.monotonic() + RECHECK_S
        if not get_current_settings().api.url:
            return
        from prefect.client.orchestration import get_client

        try:
            with get_client(sync_client=True) as client:
                limit = read_limit(client, self.name)
        except Exception as exc:
            self._fail_open("unreadable", exc)
            return
        problem = limit_problem(limit)
        if limit is None or problem:
            _say_unthrottled(self.name, problem or "is missing")
            return
        self._slots = max(1, min(RATE_SLOTS_PER_CALL, limit.limit))

    def __call__(self, request: httpx.Request) -> None:  # noqa: ARG002 (httpx hook signature)
        with self._lock:
            if self._left > 0:
                self._left -= 1
                return
            if time.monotonic() >= self._checked_until:
                self._refresh()
            if not self._slots:
                return
            from prefect.concurrency.sync import rate_limit

            try:
                rate_limit(self.name, occupy=self._slots, timeout_seconds=RATE_WAIT_MAX_S)
            except Exception as exc:
                self._fail_open("not acquired", exc)
                return
            self._left = self._slots - 1


def read_limit(client: SyncPrefectClient, name: str) -> GlobalConcurrencyLimitResponse | None:
    """The global concurrency limit ``name``, or ``None`` when it does not exist."""
    from prefect.exceptions import ObjectNotFound

    try:
        return client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        return None


def limit_problem(limit: GlobalConcurrencyLimitResponse | None) -> str | None:
    """Why a rate limit cannot throttle (``None``: it can)."""
    if limit is None:
        return "is missing"
    if not limit.active:
        return "is inactive"
    if not (limit.slot_decay_per_second or 0) > 0:
        return "has no slot decay (not a rate limit)"
    return None


def _say_unthrottled(name: str, problem: str) -> None:
    with _lock:
        if name in _unthrottled_said:
            return
        _unthrottled_said.add(name)
    system, _, merchant = name.partition("-")
    logger.warning(
        "rate limit %s %s: %s requests for merchant %s are not throttled "
        "(create it with `bridge deploy --merchant %s`)",
        name,
        problem,
        system,
        merchant,
        merchant,
    )


AMS_REQUESTS_PER_HOUR = 1000.0
"""MasonHub documents about 1000 requests per hour per account."""
RETURNLY_REQUESTS_PER_HOUR = 3600.0
"""Returnly publishes no limit (contracts §A.8.7); one request per second is a polite default."""


def rate_limit_name(system: str, merchant: str) -> str:
    """The global concurrency limit guarding one merchant's account on one system."""
    return f"{system}-{merchant}"


def reset_rate_gates() -> None:
    """Forget which missing rate limits were already reported."""
    with _lock:
        _unthrottled_said.clear()
