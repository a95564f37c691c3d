"""Process-wide resources for tasks: merchants, clients and the ledger, built once per process.

Merchants come from a JSON file named by ``BRIDGE_MERCHANTS_FILE`` (a list of
:class:`core.merchant.MerchantConfig` objects) when set, else the single merchant described
by the ``BRIDGE_`` settings (the sandbox merchant by default).
"""

from __future__ import annotations

import json
import os
import threading
from functools import lru_cache
from pathlib import Path

from clients.ams import AmsClient
from clients.returnly import ReturnlyClient
from core.merchant import MerchantConfig, merchant_from_settings
from core.settings import load_settings
from ledger import Ledger, open_ledger

MERCHANTS_FILE_ENV = "BRIDGE_MERCHANTS_FILE"
ALL_MERCHANTS = "all"
_lock = threading.Lock()


class UnknownMerchantError(LookupError):
    """The merchant name is not configured."""


def configured_merchants() -> dict[str, MerchantConfig]:
    """Every configured merchant by name."""
    path = os.environ.get(MERCHANTS_FILE_ENV)
    if path:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
        merchants = [MerchantConfig.model_validate(r) for r in rows]
    else:
        merchants = [merchant_from_settings()]
    return {m.name: m for m in merchants}


def load_merchant(name: str) -> MerchantConfig:
    """One merchant's configuration, or a clear error listing the known names."""
    merchants = configured_merchants()
    try:
        return merchants[name]
    except KeyError:
        known = ", ".join(sorted(merchants)) or "none"
        raise UnknownMerchantError(f"unknown merchant {name!r} (configured: {known})") from None


def merchant_names(selector: str) -> list[str]:
    """Expand ``all`` (or a comma list) to merchant names."""
    if selector == ALL_MERCHANTS:
        return sorted(configured_merchants())
    names = [n.strip() for n in selector.split(",") if n.strip()]
    for n in names:
        load_merchant(n)
    return names


_returnly_clients: dict[str, tuple[MerchantConfig, ReturnlyClient]] = {}
_ams_clients: dict[str, tuple[MerchantConfig, AmsClient]] = {}


def returnly_client(merchant: MerchantConfig) -> ReturnlyClient:
    """A shared (thread-safe, pooled) Returnly client; rebuilt when the config changes."""
    with _lock:
        cached = _returnly_clients.get(merchant.name)
        if cached is None or cached[0] != merchant:
            client = ReturnlyClient(
                base_url=merchant.returnly_base_url,
                api_token=merchant.returnly_api_token,
                api_version=merchant.returnly_api_version,
                refund_path=merchant.returnly_refund_path,
                page_size=100,
            )
            cached = _returnly_clients[merchant.name] = (merchant, client)
        return cached[1]


def ams_client(merchant: MerchantConfig) -> AmsClient:
    """A shared (thread-safe, pooled) AMS client; rebuilt when the config changes."""
    with _lock:
        cached = _ams_clients.get(merchant.name)
        if cached is None or cached[0] != merchant:
            client = AmsClient(
                base_url=merchant.ams_base_url,
                account=merchant.ams_account,
                api_token=merchant.ams_api_token,
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
    """Forget cached clients and ledgers (tests change the environment between cases)."""
    with _lock:
        _returnly_clients.clear()
        _ams_clients.clear()
        _ledger.cache_clear()
