"""The rate gate fails open when Prefect cannot answer, and says so once per interval."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

import runtime


def _unreachable(*_args: Any, **_kwargs: Any) -> Any:
    raise httpx.ConnectError("connection refused")


def test_rate_gate_fails_open_and_logs_once_per_interval(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Fails on the code before: one warning per refresh (here 5), none saying how often."""
    caplog.set_level(logging.WARNING, logger="runtime.rate_gate")
    monkeypatch.setattr("prefect.client.orchestration.get_client", _unreachable)
    gate = runtime.RateGate("ams-m1")
    request = httpx.Request("GET", "http://127.0.0.1/x")

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        for _ in range(5):
            gate._checked_until = 0.0  # as if the re-check interval had passed each time
            gate(request)  # fails open: no exception, the request goes on

    said = [r.getMessage() for r in caplog.records if "ams-m1" in r.getMessage()]
    assert len(said) == 1, said
    assert "not limiting" in said[0]
