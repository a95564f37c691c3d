"""Process-wide resources for tasks: merchants, clients and the ledger, built once per process.

Merchants come from the sources named by ``BRIDGE_MERCHANT_SOURCES`` (a comma list of ``file``,
``settings``, ``blocks``). The default keeps the original behaviour and adds blocks: the JSON
file named by ``BRIDGE_MERCHANTS_FILE`` (a list of :class:`core.merchant.MerchantConfig`
objects) when set, else the single merchant described by the ``BRIDGE_`` settings (the sandbox
merchant by default); then the ``merchant-config`` Prefect blocks (``bridge onboard``) when a
Prefect API is configured. A name found in the file or settings wins over a block.

Clients built here take one slot of the Prefect rate limit ``<system>-<merchant>`` per request
when that limit exists (``bridge deploy`` creates them), a few slots per Prefect call.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from clients.ams import AmsClient
from clients.http import default_timeout
from clients.returnly import ReturnlyClient
from core.merchant import SLUG_PATTERN, MerchantConfig, merchant_from_settings
from core.settings import MerchantSourceSettings, load_settings
from ledger import Ledger, open_ledger

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.responses import GlobalConcurrencyLimitResponse

logger = logging.getLogger(__name__)

MERCHANTS_FILE_ENV = "BRIDGE_MERCHANTS_FILE"
MERCHANT_SOURCES_ENV = "BRIDGE_MERCHANT_SOURCES"
ALL_MERCHANTS = "all"
BLOCK_TTL_S = 300.0
"""A loaded merchant block is reused this long (credentials rotated in the UI apply after it)."""
BLOCK_MISS_TTL_S = 30.0
"""An unknown name is not looked up again for this long (a flood of bad webhooks stays cheap)."""
BLOCKS_PAGE = 200
RATE_SLOTS_PER_CALL = 5
"""Rate-limit slots taken per Prefect call: the hot path pays one call per few requests."""
RATE_WAIT_MAX_S = 3600.0
FAIL_OPEN_LOG_INTERVAL_S = 300.0
"""A rate gate that cannot reach Prefect (and so does not limit) says so at most this often."""
_lock = threading.Lock()
_unthrottled_said: set[str] = set()
"""Rate limits already reported missing in this process (said once, on first use)."""


class UnknownMerchantError(LookupError):
    """The merchant name is not configured."""


def merchant_sources() -> list[str]:
    """The merchant sources in effect (see the module docstring)."""
    return MerchantSourceSettings().sources()


def configured_merchants() -> dict[str, MerchantConfig]:
    """Every merchant of the file or settings sources by name (blocks: :func:`load_merchant`)."""
    merchants: list[MerchantConfig] = []
    source = MerchantSourceSettings()
    sources = source.sources()
    if "file" in sources:
        if not source.merchants_file:
            raise ValueError(f"merchant source 'file' needs {MERCHANTS_FILE_ENV}")
        rows = json.loads(Path(source.merchants_file).read_text(encoding="utf-8"))
        merchants += [MerchantConfig.model_validate(r) for r in rows]
        for merchant in merchants:
            source.admit(merchant, f"{MERCHANTS_FILE_ENV} ({source.merchants_file})")
    if "settings" in sources:
        merchants.append(merchant_from_settings())
    return {m.name: m for m in merchants}


def _blocks_enabled() -> bool:
    if "blocks" not in merchant_sources():
        return False
    from prefect.settings import get_current_settings  # ~1 s, only when a name is not local

    return bool(get_current_settings().api.url)


_blocks: dict[str, tuple[float, MerchantConfig | None]] = {}


def _block_config(name: str, data: dict[str, Any]) -> MerchantConfig:
    """A block document's data as a config; errors name fields, never values (secrets)."""
    from pydantic import ValidationError

    from deployments.blocks import MerchantBlock

    try:
        config = MerchantBlock.model_validate(data).to_config(name)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors())
        raise ValueError(f"merchant block {name!r} is invalid ({where})") from None
    MerchantSourceSettings().admit(config, "its merchant-config block")
    return config


def _remember(name: str, config: MerchantConfig | None) -> None:
    ttl = BLOCK_TTL_S if config is not None else BLOCK_MISS_TTL_S
    with _lock:
        _blocks[name] = (time.monotonic() + ttl, config)


def block_merchant(name: str) -> MerchantConfig | None:
    """The merchant saved as a ``merchant-config`` block, cached per process (None: no block)."""
    with _lock:
        hit = _blocks.get(name)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from deployments.blocks import BLOCK_TYPE_SLUG

    with get_client(sync_client=True) as client:
        try:
            doc = client.read_block_document_by_name(name, BLOCK_TYPE_SLUG, include_secrets=True)
        except ObjectNotFound:
            doc = None
    config = _block_config(name, doc.data) if doc is not None else None
    _remember(name, config)
    return config


def block_merchant_names() -> list[str]:
    """Names of every saved merchant block (valid ones are cached on the way)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError

    from deployments.blocks import BLOCK_TYPE_SLUG

    names: list[str] = []
    with get_client(sync_client=True) as client:
        while True:
            try:
                docs = client.read_block_documents_by_type(
                    BLOCK_TYPE_SLUG, offset=len(names), limit=BLOCKS_PAGE, include_secrets=True
                )
            except PrefectHTTPStatusError as exc:
                if exc.response.status_code == 404:  # the block type was never registered
                    return []
                raise
            for doc in docs:
                if doc.name and not doc.is_anonymous:
                    names.append(doc.name)
                    # An invalid block is raised by load_merchant inside its own merchant's run.
                    with contextlib.suppress(ValueError):
                        _remember(doc.name, _block_config(doc.name, doc.data))
            if len(docs) < BLOCKS_PAGE:
                return names


def load_merchant(name: str) -> MerchantConfig:
    """One merchant's configuration, or a clear error listing the known names.

    A name that is not a merchant slug is refused before any lookup: it must never reach
    the Prefect API as part of a block path (``..`` would list every merchant block).
    """
    if not re.fullmatch(SLUG_PATTERN, name):
        raise UnknownMerchantError(f"not a merchant name: {name[:64]!r}")
    merchants = configured_merchants()
    if name in merchants:
        return merchants[name]
    found = block_merchant(name) if _blocks_enabled() else None
    if found is not None:
        return found
    known = ", ".join(sorted(merchants)) or "none"
    more = " and merchant-config blocks" if _blocks_enabled() else ""
    raise UnknownMerchantError(f"unknown merchant {name!r} (configured: {known}{more})")


def merchant_names(selector: str) -> list[str]:
    """Expand ``all`` (or a comma list) to merchant names."""
    if selector == ALL_MERCHANTS:
        names = set(configured_merchants())
        if _blocks_enabled():
            names.update(block_merchant_names())
        return sorted(names)
    names_list = [n.strip() for n in selector.split(",") if n.strip()]
    for n in names_list:
        load_merchant(n)
    return names_list


class RateGate:
    """httpx request hook: one slot of a Prefect rate limit per request.

    Slots are taken ``RATE_SLOTS_PER_CALL`` at a time, so the hot path pays one Prefect call
    per few requests. Without a Prefect API it is a no-op. When the limit does not exist, is
    inactive or has no slot decay, requests go through unthrottled and a warning says so on
    the limit's first use in the process (``onboard-check`` fails such a merchant);
    existence is re-checked every ``BLOCK_TTL_S``. Fails open when Prefect cannot answer:
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

        self._slots, self._checked_until = 0, time.monotonic() + BLOCK_TTL_S
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


def rate_limit_name(system: str, merchant: str) -> str:
    """The global concurrency limit guarding one merchant's account on one system."""
    return f"{system}-{merchant}"


def _gated_http(system: str, merchant: str) -> httpx.Client:
    gate = RateGate(rate_limit_name(system, merchant))
    return httpx.Client(timeout=default_timeout(), event_hooks={"request": [gate]})


_returnly_clients: dict[str, tuple[MerchantConfig, ReturnlyClient]] = {}
_ams_clients: dict[str, tuple[MerchantConfig, AmsClient]] = {}


def returnly_client(merchant: MerchantConfig) -> ReturnlyClient:
    """A shared (thread-safe, pooled, rate-gated) Returnly client; rebuilt on config change."""
    with _lock:
        cached = _returnly_clients.get(merchant.name)
        if cached is None or cached[0] != merchant:
            client = ReturnlyClient(
                base_url=merchant.returnly_base_url,
                api_token=merchant.returnly_api_token,
                api_version=merchant.returnly_api_version,
                refund_path=merchant.returnly_refund_path,
                page_size=100,
                http_client=_gated_http("returnly", merchant.name),
            )
            cached = _returnly_clients[merchant.name] = (merchant, client)
        return cached[1]


def ams_client(merchant: MerchantConfig) -> AmsClient:
    """A shared (thread-safe, pooled, rate-gated) AMS client; rebuilt on config change."""
    with _lock:
        cached = _ams_clients.get(merchant.name)
        if cached is None or cached[0] != merchant:
            client = AmsClient(
                base_url=merchant.ams_base_url,
                account=merchant.ams_account,
                api_token=merchant.ams_api_token,
                http_client=_gated_http("ams", merchant.name),
            )
            cached = _ams_clients[merchant.name] = (merchant, client)
        return cached[1]


@lru_cache(maxsize=4)
def _ledger(url: str) -> Ledger:
    return open_ledger(url)


def get_ledger() -> Ledger:
    """The ledger named by the settings, opened once per process."""
    with _lock:
        return _ledger(load_settings().ledger.sqlalchemy_url())


def reset_runtime() -> None:
    """Forget cached clients, merchant blocks and ledgers (tests change the environment)."""
    with _lock:
        _returnly_clients.clear()
        _ams_clients.clear()
        _blocks.clear()
        _ledger.cache_clear()
        _unthrottled_said.clear()
