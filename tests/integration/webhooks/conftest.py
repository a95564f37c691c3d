"""Receiver under test, the two real sandboxes, and a per-test SQLite ledger, all over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clients.ams import AmsClient
from clients.returnly import ReturnlyClient
from core.settings import SANDBOX_ACCOUNT, SANDBOX_AMS_TOKEN, SANDBOX_RETURNLY_TOKEN
from ledger import Ledger, open_ledger
from runtime import reset_runtime
from sandbox.ams.app import create_app as create_ams_app
from sandbox.returnly.app import create_app as create_returnly_app
from sandbox.server import ThreadedServer, serve_in_thread
from tests.integration.webhooks.support import CALLBACK_TOKEN, WEBHOOK_SECRET, Receiver
from tests.support.dispatch import RecordingDispatcher
from webhooks import create_app
from webhooks.limits import HEADER_TIMEOUT_S
from webhooks.protocol import uvicorn_options

FAST_RETURNLY_DELIVERY = {"max_attempts": 2, "backoff_s": 0.01, "timeout_s": 5.0}
FAST_AMS_DELIVERY = {"max_attempts": 2, "retry_base_s": 0.01, "timeout_s": 5.0}


@pytest.fixture(autouse=True)
def merchant_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The default merchant ("sandbox-merchant") gets test secrets through BRIDGE_ env vars."""
    monkeypatch.setenv("BRIDGE_RETURNLY_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("BRIDGE_AMS_CALLBACK_TOKEN", CALLBACK_TOKEN)
    reset_runtime()
    yield
    reset_runtime()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """A fresh SQLite ledger file per test."""
    with open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as led:
        yield led


@pytest.fixture
def make_receiver(ledger: Ledger) -> Iterator[Callable[..., Receiver]]:
    """Start receivers (real uvicorn, free port) with a recording dispatcher; stopped after.

    They run with the receiver's own uvicorn options (header deadline, limits), as deployed.
    """
    servers: list[ThreadedServer] = []

    def start(*, header_timeout_s: float = HEADER_TIMEOUT_S, **overrides: Any) -> Receiver:
        dispatcher = overrides.pop("dispatcher", None) or RecordingDispatcher()
        overrides.setdefault("ledger_factory", lambda: ledger)
        app = create_app(dispatcher=dispatcher, **overrides)
        server = ThreadedServer(app, **uvicorn_options(header_timeout_s)).start()
        servers.append(server)
        return Receiver(server.url, ledger, dispatcher)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def receiver(make_receiver: Callable[..., Receiver]) -> Receiver:
    """A receiver with the default settings."""
    return make_receiver()


# --- Returnly sandbox --------------------------------------------------------------------


@pytest.fixture(scope="session")
def returnly_app() -> FastAPI:
    """One Returnly sandbox for the session (reset per test)."""
    return create_returnly_app()


@pytest.fixture(scope="session")
def returnly_server(returnly_app: FastAPI) -> Iterator[ThreadedServer]:
    """The Returnly sandbox on a free loopback port."""
    with serve_in_thread(returnly_app) as server:
        yield server


@pytest.fixture
def returnly_admin(returnly_server: ThreadedServer) -> Iterator[httpx.Client]:
    """Admin client of a freshly reset Returnly sandbox with quick delivery retries."""
    with httpx.Client(base_url=returnly_server.url, timeout=30) as client:
        client.post("/_admin/reset").raise_for_status()
        client.put("/_admin/deliveries/config", json=FAST_RETURNLY_DELIVERY).raise_for_status()
        yield client


@pytest.fixture
def returnly(
    returnly_server: ThreadedServer, returnly_admin: httpx.Client
) -> Iterator[ReturnlyClient]:
    """API client of the (reset) Returnly sandbox."""
    with ReturnlyClient(base_url=returnly_server.url, api_token=SANDBOX_RETURNLY_TOKEN) as client:
        yield client


# --- AMS sandbox -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ams_app() -> FastAPI:
    """One AMS sandbox for the session (reset per test)."""
    return create_ams_app(seed=11)


@pytest.fixture(scope="session")
def ams_server(ams_app: FastAPI) -> Iterator[ThreadedServer]:
    """The AMS sandbox on a free loopback port."""
    with serve_in_thread(ams_app) as server:
        yield server


@pytest.fixture
def ams_admin(ams_server: ThreadedServer) -> Iterator[httpx.Client]:
    """Admin client of a freshly reset AMS sandbox with quick delivery retries."""
    with httpx.Client(base_url=ams_server.url, timeout=30) as client:
        client.post("/_admin/reset").raise_for_status()
        client.put("/_admin/settings", json=FAST_AMS_DELIVERY).raise_for_status()
        yield client


@pytest.fixture
def ams(ams_server: ThreadedServer, ams_admin: httpx.Client) -> Iterator[AmsClient]:
    """API client of the (reset) AMS sandbox."""
    with AmsClient(
        base_url=ams_server.url, account=SANDBOX_ACCOUNT, api_token=SANDBOX_AMS_TOKEN
    ) as client:
        yield client
