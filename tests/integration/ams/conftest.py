"""The AMS sandbox and a callback receiver served over real HTTP; state reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from clients.ams import AmsClient
from clients.http import RetryPolicy
from core.settings import SANDBOX_ACCOUNT, SANDBOX_AMS_TOKEN
from sandbox.ams.app import create_app
from sandbox.server import ThreadedServer, serve_in_thread
from tests.integration.ams.receiver import CallbackReceiver

SEED = 7


@pytest.fixture(scope="session")
def ams_app() -> FastAPI:
    """One sandbox app for the session (reset per test)."""
    return create_app(seed=SEED)


@pytest.fixture(scope="session")
def ams_server(ams_app: FastAPI) -> Iterator[ThreadedServer]:
    """The sandbox on a free loopback port."""
    with serve_in_thread(ams_app) as server:
        yield server


@pytest.fixture(scope="session")
def receiver() -> Iterator[CallbackReceiver]:
    """A callback receiver on its own free port."""
    rx = CallbackReceiver()
    with serve_in_thread(rx.app()) as server:
        rx.url = server.url
        yield rx


@pytest.fixture
def admin(ams_server: ThreadedServer) -> Iterator[httpx.Client]:
    """Plain HTTP client for /_admin routes."""
    with httpx.Client(base_url=ams_server.url, timeout=30) as client:
        yield client


@pytest.fixture(autouse=True)
def _fresh_sandbox(admin: httpx.Client, receiver: CallbackReceiver) -> None:
    """Each test starts with an empty account, default settings and no faults."""
    admin.post("/_admin/reset").raise_for_status()
    receiver.clear()


@pytest.fixture
def sleeps() -> list[float]:
    """Every backoff the client asked for; nothing really sleeps."""
    return []


@pytest.fixture
def ams(ams_server: ThreadedServer, sleeps: list[float]) -> Iterator[AmsClient]:
    """A client bound to the sandbox whose retries record their waits instead of sleeping."""
    policy = RetryPolicy(max_retries=3, sleep=sleeps.append, jitter=lambda: 0.5)
    with AmsClient(
        base_url=ams_server.url, account=SANDBOX_ACCOUNT, api_token=SANDBOX_AMS_TOKEN, retry=policy
    ) as client:
        yield client
