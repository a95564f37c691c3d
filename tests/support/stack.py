"""Both sandboxes on free loopback ports plus a callback sink, for lifecycle and flow tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request
from pydantic import SecretStr

from clients.ams import AmsClient, CallbackCreate
from clients.http import RetryPolicy
from clients.returnly import ReturnlyClient
from core.merchant import MerchantConfig
from core.policy import REFUND, MerchantPolicy
from core.settings import (
    SANDBOX_ACCOUNT,
    SANDBOX_AMS_TOKEN,
    SANDBOX_CALLBACK_TOKEN,
    SANDBOX_RETURNLY_TOKEN,
    SANDBOX_WEBHOOK_SECRET,
)
from sandbox.ams.app import create_app as create_ams
from sandbox.returnly.app import create_app as create_returnly
from sandbox.server import ThreadedServer

NO_SLEEP = RetryPolicy(max_retries=5, sleep=lambda _s: None, jitter=lambda: 0.0)


def sink_app(received: list[Any]) -> FastAPI:
    """A receiver that accepts anything (AMS requires a registered callback before events)."""
    app = FastAPI()

    @app.post("/{path:path}")
    async def sink(request: Request) -> dict[str, bool]:
        received.append(await request.body())
        return {"ok": True}

    return app


@dataclass
class Stack:
    """Running sandboxes and ready clients; ``reset()`` empties both between tests."""

    returnly_url: str
    ams_url: str
    sink_url: str
    sink_received: list[Any] = field(default_factory=list)

    def merchant(self, name: str = SANDBOX_ACCOUNT, **policy: Any) -> MerchantConfig:
        """A merchant pointing at these sandboxes (``available`` and ``qc`` refunded)."""
        rules = {"available": REFUND, "qc": REFUND}
        return MerchantConfig(
            name=name,
            returnly_base_url=self.returnly_url,
            returnly_api_token=SecretStr(SANDBOX_RETURNLY_TOKEN),
            returnly_webhook_secret=SecretStr(SANDBOX_WEBHOOK_SECRET),
            ams_base_url=self.ams_url,
            ams_account=SANDBOX_ACCOUNT,
            ams_api_token=SecretStr(SANDBOX_AMS_TOKEN),
            ams_callback_token=SecretStr(SANDBOX_CALLBACK_TOKEN),
            policy=MerchantPolicy(**{"inventory_status_policy": rules, **policy}),
        )

    def returnly(self) -> ReturnlyClient:
        """A Returnly client whose retries do not sleep."""
        return ReturnlyClient(
            base_url=self.returnly_url, api_token=SANDBOX_RETURNLY_TOKEN, retry=NO_SLEEP
        )

    def ams(self) -> AmsClient:
        """An AMS client whose retries do not sleep."""
        return AmsClient(
            base_url=self.ams_url,
            account=SANDBOX_ACCOUNT,
            api_token=SANDBOX_AMS_TOKEN,
            retry=NO_SLEEP,
        )

    def admin(self, system: str) -> httpx.Client:
        """Plain HTTP client for a sandbox's /_admin routes."""
        url = self.returnly_url if system == "returnly" else self.ams_url
        return httpx.Client(base_url=url, timeout=30)

    def reset(self) -> None:
        """Empty both sandboxes and register a callback sink so the DataFactory works."""
        for system in ("returnly", "ams"):
            with self.admin(system) as admin:
                admin.post("/_admin/reset").raise_for_status()
        self.sink_received.clear()
        with self.ams() as ams:
            ams.register_callbacks(
                [
                    CallbackCreate(
                        url=f"{self.sink_url}/ams",
                        message_type="rmaEvent",
                        api_version="1.0",
                        token=SANDBOX_CALLBACK_TOKEN,
                    )
                ]
            )

    def plant(self, **spec: Any) -> dict[str, Any]:
        """Plant one Returnly return (sandbox ReturnSpec fields); answers its ids."""
        spec.setdefault("status", "authorized")
        with self.admin("returnly") as admin:
            r = admin.post("/_admin/returns", json=spec)
            r.raise_for_status()
            return dict(r.json())

    def set_status(self, return_id: str, status: str) -> None:
        """Move a Returnly return to a status (fires webhooks)."""
        with self.admin("returnly") as admin:
            admin.post(f"/_admin/returns/{return_id}/status", json={"status": status})

    def refund_count(self, return_id: str) -> int:
        """How many refunds Returnly holds for a return."""
        with self.admin("returnly") as admin:
            return int(admin.get(f"/_admin/returns/{return_id}/refunds").json()["count"])

    def faults(self, system: str, **config: Any) -> None:
        """Set (or with no arguments clear) a sandbox's faults."""
        with self.admin(system) as admin:
            if config:
                admin.put("/_admin/faults", json=config).raise_for_status()
            else:
                admin.delete("/_admin/faults").raise_for_status()


@contextlib.contextmanager
def running_stack() -> Iterator[Stack]:
    """Start both sandboxes and the sink; stop them all afterwards."""
    received: list[Any] = []
    servers = [
        ThreadedServer(create_returnly()).start(),
        ThreadedServer(create_ams()).start(),
        ThreadedServer(sink_app(received)).start(),
    ]
    try:
        yield Stack(
            returnly_url=servers[0].url,
            ams_url=servers[1].url,
            sink_url=servers[2].url,
            sink_received=received,
        )
    finally:
        for s in servers:
            s.stop()
