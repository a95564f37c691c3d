"""The fault mix both sandboxes get during a chaos run, set and read through ``/_admin/faults``.

``--fault-rate`` (0.2) is the share of API calls that fail, spread over 5xx, 429 with a short
``Retry-After``, hangs past the bridge's read timeout, and writes whose answer is lost after
they were applied (commit-then-fail: dropped connection, 500, hang). Every webhook and callback
is delivered ``--duplicates`` times, each copy after a random delay, reordered. Returnly accepts
a second refund of a return and AMS a second live RMA with the same identifier, so a bridge
that repeats itself is caught instead of being saved by the other side.
"""

from __future__ import annotations

from typing import Any

import httpx

from deployments.chaos.stack import READ_TIMEOUT_S

HANG_S = READ_TIMEOUT_S + 1.0
RETRY_AFTER_S = 0.2
DELIVERY_DELAY_MS_MAX = 2000
SHARES = {"error": 0.35, "rate_limit": 0.35, "hang": 0.05}
"""How the request faults split the fault rate; commit-then-fail gets a share of the writes."""
COMMIT_THEN_FAIL_SHARE = 1.0
"""Writes (RMA POST/PUT/DELETE, refund POST) that passed the request faults lose their answer
at this share of the fault rate, so writes fail about as often as reads overall."""
AMS_PATHS = "/rmas"
"""AMS faults hit the RMA API the bridge calls, not the DataFactory that plays the warehouse
(its events are the scenario, not calls the bridge makes)."""


def fault_config(
    rate: float, seed: int, duplicates: int, *, side: str, on: bool = True
) -> dict[str, Any]:
    """The ``PUT /_admin/faults`` body for one sandbox (``side``: ``returnly`` or ``ams``)."""
    if not on:
        return {"seed": seed}
    body: dict[str, Any] = {
        "seed": seed + (0 if side == "returnly" else 1),
        "error_rate": round(rate * SHARES["error"], 4),
        "error_status": 503,
        "rate_limit_rate": round(rate * SHARES["rate_limit"], 4),
        "retry_after_s": RETRY_AFTER_S,
        "hang_rate": round(rate * SHARES["hang"], 4),
        "hang_s": HANG_S,
        "commit_then_fail_rate": round(min(1.0, rate * COMMIT_THEN_FAIL_SHARE), 4),
        "commit_then_fail_modes": ["drop", "500", "hang"],
        "duplicate_count": max(1, duplicates),
        "delivery_delay_ms_max": DELIVERY_DELAY_MS_MAX,
        "reorder": True,
    }
    if side == "returnly":
        body["refund_idempotency"] = "none"
    else:
        body["duplicate_identifiers"] = "accept"
        body["path_contains"] = AMS_PATHS
    return body


def put_faults(base_url: str, body: dict[str, Any]) -> dict[str, Any]:
    """Set one sandbox's faults; answers the config it accepted."""
    response = httpx.put(f"{base_url}/_admin/faults", json=body, timeout=30)
    response.raise_for_status()
    config: dict[str, Any] = response.json()["config"]
    return config


def read_faults(base_url: str) -> dict[str, Any]:
    """``GET /_admin/faults``: the config and the ``injected`` counters."""
    response = httpx.get(f"{base_url}/_admin/faults", timeout=30)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def clear_faults(base_url: str) -> None:
    """No faults (``DELETE /_admin/faults``)."""
    httpx.delete(f"{base_url}/_admin/faults", timeout=30).raise_for_status()


def request_summary(base_url: str) -> dict[str, Any]:
    """``GET /_admin/requests/summary`` (empty when the sandbox has no such route)."""
    response = httpx.get(f"{base_url}/_admin/requests/summary", timeout=60)
    if response.status_code == 404:
        return {}
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data
