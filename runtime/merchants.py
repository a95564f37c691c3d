"""Which merchants the bridge serves and where their configuration comes from.

Merchants come from the sources named by ``BRIDGE_MERCHANT_SOURCES`` (a comma list of ``file``,
``settings``, ``blocks``). The default keeps the original behaviour and adds blocks: the JSON
file named by ``BRIDGE_MERCHANTS_FILE`` (a list of :class:`core.merchant.MerchantConfig`
objects) when set, else the single merchant described by the ``BRIDGE_`` settings (the sandbox
merchant by default); then the ``merchant-config`` Prefect blocks (``bridge onboard``) when a
Prefect API is configured. A name found in the file or settings wins over a block.

Prefect and the block model are imported inside the functions that read blocks: importing
Prefect costs ~1 s, which the receiver and the drivers must not pay before they configure it
(PREFECT_NOTES; ``tests/unit/test_run_progress.py`` checks the drivers).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.merchant import SLUG_PATTERN, MerchantConfig, merchant_from_settings
from core.settings import MerchantSourceSettings
from runtime.platforms import check_platform

MERCHANTS_FILE_ENV = "BRIDGE_MERCHANTS_FILE"
MERCHANT_SOURCES_ENV = "BRIDGE_MERCHANT_SOURCES"
ALL_MERCHANTS = "all"
BLOCK_TTL_S = 300.0
"""A loaded merchant block is reused this long (credentials rotated in the UI apply after it)."""
BLOCK_MISS_TTL_S = 30.0
"""An unknown name is not looked up again for this long (a flood of bad webhooks stays cheap)."""
BLOCKS_PAGE = 200
_lock = threading.Lock()


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
            origin = f"{MERCHANTS_FILE_ENV} ({source.merchants_file})"
            source.admit(merchant, origin)
            check_platform(merchant, origin)
    if "settings" in sources:
        merchants.append(check_platform(merchant_from_settings(), "the BRIDGE_* settings"))
    return {m.name: m for m in merchants}


def _blocks_enabled() -> bool:
    if "blocks" not in merchant_sources():
        return False
    from prefect.settings import get_current_settings  # ~1 s, only when a name is not local

    return bool(get_current_settings().api.url)


_blocks: dict[str, tuple[float, MerchantConfig | None]] = {}


def _block_config(name: str, data: dict[str, Any]) -> MerchantConfig:
    """A block document's data as a config; errors name fields, never values (secrets)."""
    from runtime.blocks import MerchantBlock  # imports Prefect (~1 s): only for a block

    try:
        config = MerchantBlock.model_validate(data).to_config(name)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors())
        raise ValueError(f"merchant block {name!r} is invalid ({where})") from None
    MerchantSourceSettings().admit(config, "its merchant-config block")
    return check_platform(config, "its merchant-config block")


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
    # Prefect (~1 s to import) only when a name is not in the file or settings.
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from runtime.blocks import BLOCK_TYPE_SLUG

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
    # Prefect (~1 s to import) only when every merchant is listed.
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError

    from runtime.blocks import BLOCK_TYPE_SLUG

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
    """Expand ``all`` (or a comma list) to merchant names.

    ``all,-acme,-bolt`` is every merchant but those: the shared deployments' selector once
    ``bridge deploy --merchant-queue`` gave acme and bolt deployments of their own, so no
    merchant is polled twice (:mod:`deployments.merchant_queues`).
    """
    tokens = [n.strip() for n in selector.split(",") if n.strip()]
    if tokens and tokens[0] == ALL_MERCHANTS:
        names = set(configured_merchants())
        if _blocks_enabled():
            names.update(block_merchant_names())
        return sorted(names - {t.removeprefix("-") for t in tokens[1:] if t.startswith("-")})
    names_list = tokens
    for n in names_list:
        load_merchant(n)
    return names_list


def reset_merchants() -> None:
    """Forget the cached merchant blocks."""
    with _lock:
        _blocks.clear()
