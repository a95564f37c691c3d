"""Small helpers for talking to the AMS sandbox's admin side in tests."""

from __future__ import annotations

from typing import Any

import httpx

from clients.ams import AmsClient, CallbackCreate
from core.settings import SANDBOX_ACCOUNT, SANDBOX_AMS_TOKEN

API = f"/{SANDBOX_ACCOUNT}/api/v1"
AUTH = {"Authorization": f"Bearer {SANDBOX_AMS_TOKEN}"}
CALLBACK_TOKEN = "cb-token-5f1e-very-secret"


def api_requests(admin: httpx.Client) -> list[dict[str, Any]]:
    """API requests the sandbox received since the reset (method, path, status_code)."""
    reply = admin.get("/_admin/requests")
    reply.raise_for_status()
    data: list[dict[str, Any]] = reply.json()
    return data


def flush(admin: httpx.Client) -> None:
    """Wait until the sandbox delivered (or gave up on) every queued callback."""
    reply = admin.post("/_admin/deliveries/flush", params={"timeout_s": 10})
    reply.raise_for_status()
    assert reply.json()["drained"], reply.json()


def set_faults(admin: httpx.Client, **config: Any) -> None:
    """Configure the sandbox's injected faults."""
    admin.put("/_admin/faults", json=config).raise_for_status()


def set_settings(admin: httpx.Client, **settings: Any) -> None:
    """Change delivery settings (token_delivery, envelope_as_array, retries...)."""
    admin.put("/_admin/settings", json=settings).raise_for_status()


def plant(admin: httpx.Client, *records: dict[str, Any]) -> list[dict[str, Any]]:
    """Put RMAs straight into the sandbox, in any state."""
    reply = admin.post("/_admin/rmas", json=list(records))
    reply.raise_for_status()
    data: list[dict[str, Any]] = reply.json()["data"]
    return data


def register_rma_callbacks(
    ams: AmsClient, url: str, versions: tuple[str, ...] = ("1.0", "2.0")
) -> None:
    """One rmaEvent callback per api_version, all pointing at the test receiver."""
    ams.register_callbacks(
        [
            CallbackCreate(
                url=f"{url}/rma/v{v}",
                message_type="rmaEvent",
                api_version="2.0" if v == "2.0" else "1.0",
                token=CALLBACK_TOKEN,
            )
            for v in versions
        ]
    )
