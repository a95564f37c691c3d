"""Schemathesis against the AMS sandbox, from MasonHub's own OpenAPI document.

Every operation the sandbox implements (RMAs, callbacks, the rmaEvent DataFactory) is called
with schema-generated requests, valid and invalid; the sandbox must never answer 5xx. The
sandbox runs for real on a loopback port (the session's ``ams_server``).

Cases per run: ``MAX_EXAMPLES`` per operation (x 8 operations), derandomized.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from core.settings import SANDBOX_ACCOUNT, SANDBOX_AMS_TOKEN
from sandbox.server import ThreadedServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_EXAMPLES = 30
SPEC = Path(__file__).resolve().parents[3] / "contracts" / "masonhub-openapi.yaml"
IMPLEMENTED = r"^/(rmas|callbacks|data_factory/rmaEvent)$"

schema = schemathesis.openapi.from_path(str(SPEC)).include(path_regex=IMPLEMENTED)


@pytest.fixture
def base_url(ams_server: ThreadedServer) -> str:
    return f"{ams_server.url}/{SANDBOX_ACCOUNT}/api/v1"


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_sandbox_never_answers_5xx(case: schemathesis.Case, base_url: str) -> None:
    response = case.call(
        base_url=base_url, headers={"Authorization": f"Bearer {SANDBOX_AMS_TOKEN}"}, timeout=30
    )
    assert response.status_code < 500, (
        f"{case.method} {case.path} -> {response.status_code}: {response.text[:500]}\n"
        f"{case.as_curl_command()}"
    )
