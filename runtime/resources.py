"""Shared, rate-gated API clients and the ledger, built once per process.

A client is rebuilt when its merchant's configuration changes (a rotated token in a block).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import lru_cache

import httpx

from clients.ams import AmsClient
from clients.http import default_timeout
from clients.returnly import ReturnlyClient
from core.merchant import MerchantConfig
from core.settings import load_settings
from ledger import Ledger, open_ledger
from runtime.rate_gate import RateGate, rate_limit_name
from runtime.request_meter import METER

_lock = threading.Lock()


def _gated_http(system: str, merchant: str) -> httpx.Client:
    """Rate-gated, and every request counted for the merchant's budget (:mod:`tasks.budget`)."""
    gate = RateGate(rate_limit_name(system, merchant))
    hooks: dict[str, list[Callable[[httpx.Request], None]]] = {
        "request": [gate, METER.hook(system, merchant)]
    }
    return httpx.Client(timeout=default_timeout(), event_hooks=hooks)


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


def reset_resources() -> None:
    """Forget cached clients and ledgers (tests change the environment)."""
    with _lock:
        _returnly_clients.clear()
        _ams_clients.clear()
        _ledger.cache_clear()
