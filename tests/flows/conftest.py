"""Flows under a real (temporary) Prefect server, against the sandboxes and a SQLite ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger import Ledger
from runtime import get_ledger, reset_runtime
from tests.support.stack import Stack, running_stack


@pytest.fixture(autouse=True, scope="session")
def _prefect(prefect_server: None) -> None:
    """Every flow test runs against the session's Prefect server."""


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with running_stack() as s:
        yield s


@pytest.fixture(autouse=True)
def bridge_env(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the default merchant at the sandboxes and the ledger at a fresh file."""
    stack.reset()
    monkeypatch.setenv("BRIDGE_RETURNLY_BASE_URL", stack.returnly_url)
    monkeypatch.setenv("BRIDGE_AMS_BASE_URL", stack.ams_url)
    monkeypatch.setenv("BRIDGE_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("BRIDGE_AMS_REFUND_STATUSES", '["available", "qc"]')
    reset_runtime()
    yield
    reset_runtime()


@pytest.fixture
def ledger() -> Ledger:
    return get_ledger()
