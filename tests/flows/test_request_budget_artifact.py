"""The request budget artifact: the runtime clients' requests against the Prefect rate limit."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from prefect.artifacts import Artifact
from prefect.client.orchestration import get_client

from core.settings import SANDBOX_ACCOUNT
from deployments.deploy import RateLimits, ensure_rate_limits
from ledger import Ledger
from runtime import ams_client, load_merchant, rate_limit_name, reset_runtime
from tasks.budget import budget_artifact_key, publish_budget

MERCHANT = SANDBOX_ACCOUNT


@pytest.fixture
def tight_ams_limit() -> Iterator[None]:
    """An AMS limit of 6 requests an hour (burst 10), removed afterwards."""
    ensure_rate_limits([MERCHANT], RateLimits(ams_per_hour=6, returnly_per_hour=3600, burst=10))
    reset_runtime()  # the clients' rate gates read the limit afresh
    yield
    with get_client(sync_client=True) as client:
        for system in ("ams", "returnly"):
            client.delete_global_concurrency_limit_by_name(rate_limit_name(system, MERCHANT))
    reset_runtime()


def test_the_artifact_shows_the_requests_sent_and_warns_above_80_percent(
    tight_ams_limit: None, ledger: Ledger
) -> None:
    ams = ams_client(load_merchant(MERCHANT))
    for _ in range(5):  # 5 of 6 an hour: 83%
        ams.get_rma_by_cid("RLY-nothing-here")
    rows = {r.system: r for r in publish_budget(MERCHANT, ledger=ledger)}
    assert (rows["ams"].last_hour, rows["ams"].limit_source) == (5, f"ams-{MERCHANT}")
    assert rows["ams"].limit_per_hour == pytest.approx(6, rel=1e-3)
    assert rows["ams"].warning
    assert (rows["returnly"].last_hour, rows["returnly"].warning) == (0, False)
    artifact = Artifact.get(budget_artifact_key(MERCHANT))
    assert artifact is not None
    assert "WARNING: ams above 80%" in (artifact.description or "")
    table = json.loads(str(artifact.data))
    ams_row = next(r for r in table if r["system"] == "ams")
    assert ams_row["requests last hour"] == 5
    assert ams_row["status"] == "WARNING: last hour above 80%"
