"""The runtime room: configuration and process-wide resources, below tasks, flows and webhooks.

Merchant sources and the merchant block (:mod:`runtime.merchants`, :mod:`runtime.blocks`), the
Prefect rate gate (:mod:`runtime.rate_gate`), the shared clients and ledger
(:mod:`runtime.resources`) and the merchant's returns platform (:mod:`runtime.platforms`). It
imports platforms, ledger, core and clients only (pyproject's layer contracts); tasks, flows,
webhooks, deployments and the CLI import it.
"""

from runtime.merchants import (
    ALL_MERCHANTS,
    MERCHANT_SOURCES_ENV,
    MERCHANTS_FILE_ENV,
    UnknownMerchantError,
    block_merchant,
    block_merchant_names,
    configured_merchants,
    load_merchant,
    merchant_names,
    merchant_sources,
    reset_merchants,
)
from runtime.platforms import PLATFORMS, UnknownPlatformError, returns_platform
from runtime.rate_gate import RateGate, limit_problem, rate_limit_name, read_limit, reset_rate_gates
from runtime.request_meter import METER
from runtime.resources import ams_client, get_ledger, reset_resources, returnly_client

__all__ = [
    "ALL_MERCHANTS",
    "MERCHANTS_FILE_ENV",
    "MERCHANT_SOURCES_ENV",
    "PLATFORMS",
    "RateGate",
    "UnknownMerchantError",
    "UnknownPlatformError",
    "ams_client",
    "block_merchant",
    "block_merchant_names",
    "configured_merchants",
    "get_ledger",
    "limit_problem",
    "load_merchant",
    "merchant_names",
    "merchant_sources",
    "rate_limit_name",
    "read_limit",
    "reset_runtime",
    "returnly_client",
    "returns_platform",
]


def reset_runtime() -> None:
    """Forget cached clients, merchant blocks, ledgers and rate-limit notices (tests)."""
    METER.settle()  # counts so far go to the ledger they were made for
    reset_resources()
    reset_merchants()
    reset_rate_gates()
