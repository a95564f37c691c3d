"""The Returnly sandbox and a webhook receiver over real HTTP; state reset before each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clients.http import RetryPolicy
from clients.returnly import ReturnlyClient
from core.settings import SANDBOX_RETURNLY_TOKEN
from sandbox.faults import FaultState
from sandbox.returnly.app import create_app
from sandbox.server import ThreadedServer, serve_in_thread
from tests.integration.returnly.receiver import WebhookReceiver

FAST_DELIVERY = {"max_attempts": 3, "backoff_s": 0.01, "timeout_s": 2.0}


@pytest.fixture(scope="session")
def returnly_app() -> FastAPI:
    """One sandbox app for the session (reset per test)."""
    return create_app()


@pytest.fixture(scope="session")
def returnly_server(returnly_app: FastAPI) -> Iterator[ThreadedServer]:
    """The sandbox on a free loopback port."""
    with serve_in_thread(returnly_app) as server:
        yield server


@pytest.fixture(scope="session")
def receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver on its own free port."""
    rx = WebhookReceiver()
    with serve_in_thread(rx.app()) as server:
        rx.url = server.url
        yield rx


@pytest.fixture
def admin(returnly_server: ThreadedServer) -> Iterator[httpx.Client]:
    """Plain HTTP client for the /_admin routes (no token needed)."""
    with httpx.Client(base_url=returnly_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def faults(returnly_app: FastAPI) -> FaultState:
    """The sandbox's fault state, for reading ``injected`` counters."""
    state: FaultState = returnly_app.state.faults
    return state


@pytest.fixture(autouse=True)
def _fresh_sandbox(admin: httpx.Client, receiver: WebhookReceiver) -> None:
    """Each test starts empty, with no faults, no subscriptions and quick delivery retries."""
    admin.post("/_admin/reset").raise_for_status()
    admin.put("/_admin/deliveries/config", json=FAST_DELIVERY).raise_for_status()
    receiver.clear()


@pytest.fixture
def sleeps() -> list[float]:
    """Every backoff the client asked for; nothing really sleeps."""
    return []


@pytest.fixture
def sent() -> list[httpx.Request]:
    """Every request the client sent, recorded by an httpx event hook."""
    return []


@pytest.fixture
def make_client(
    returnly_server: ThreadedServer, sleeps: list[float], sent: list[httpx.Request]
) -> Iterator[Callable[..., ReturnlyClient]]:
    """Build clients against the sandbox; each records its requests and never really sleeps."""
    made: list[ReturnlyClient] = []
    pools: list[httpx.Client] = []

    def build(**overrides: Any) -> ReturnlyClient:
        timeout = overrides.pop("timeout", 10.0)
        http = httpx.Client(timeout=timeout, event_hooks={"request": [sent.append]})
        pools.append(http)
        kw: dict[str, Any] = {
            "base_url": returnly_server.url,
            "api_token": SANDBOX_RETURNLY_TOKEN,
            "retry": RetryPolicy(max_retries=3, sleep=sleeps.append, jitter=lambda: 0.0),
            "http_client": http,
        }
        kw.update(overrides)
        client = ReturnlyClient(**kw)
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()
    for pool in pools:
        pool.close()


@pytest.fixture
def client(make_client: Callable[..., ReturnlyClient]) -> ReturnlyClient:
    """A client with the sandbox token and default settings."""
    return make_client()


@pytest.fixture
def plant(admin: httpx.Client) -> Callable[..., dict[str, Any]]:
    """Create one return from a spec (see ``sandbox.returnly.specs.ReturnSpec``)."""

    def _plant(**spec: Any) -> dict[str, Any]:
        response = admin.post("/_admin/returns", json=spec)
        response.raise_for_status()
        created: dict[str, Any] = response.json()
        return created

    return _plant
