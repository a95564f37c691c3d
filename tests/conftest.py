"""Test-wide isolation: no project env vars leak in, Prefect runs against a throwaway home."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

_PREFECT_HOME = tempfile.mkdtemp(prefix="bridge-prefect-home-")
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> Iterator[None]:
    """Strip BRIDGE_* variables so a developer's .env never changes a test's outcome."""
    for key in list(os.environ):
        if key.startswith("BRIDGE_") and key != "BRIDGE_TEST_POSTGRES_URL":
            monkeypatch.delenv(key, raising=False)
    yield


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One throwaway Prefect server for the whole session (PREFECT_API_URL points at it)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield
