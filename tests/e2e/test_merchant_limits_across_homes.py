"""A merchant's rate limit holds across workers on different hosts: it lives on the server.

Two processes, each with its own ``PREFECT_HOME`` (standing in for two worker hosts), send one
merchant's AMS requests through the same gate the bridge's clients use
(:class:`runtime.RateGate` on ``ams-<merchant>``). If each host limited itself, each
would be done in the time one process needs alone; sharing the server-side limit, together
they take about twice that.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.deploy import RateLimits, ensure_rate_limits
from deployments.prefect_server import local_prefect_server
from tests.support.processes import run_released_together

pytestmark = [pytest.mark.slow]

MERCHANT = "limits-merchant"
BURST = 4
PER_SECOND = 2.0
REQUESTS_EACH = 12

CHILD = """
import os, sys, time
os.environ["PREFECT_HOME"], os.environ["PREFECT_API_URL"] = sys.argv[1], sys.argv[2]
import httpx
from runtime import RateGate, rate_limit_name
gate = RateGate(rate_limit_name("ams", sys.argv[3]))
request = httpx.Request("GET", "http://127.0.0.1:9/")
print("ready", flush=True)
sys.stdin.readline()
started = time.monotonic()
for _ in range(int(sys.argv[4])):
    gate(request)
print(f"{time.monotonic() - started:.2f}")
"""


def test_two_homes_share_one_merchants_rate_limit(tmp_path: Path) -> None:
    server_home = tmp_path / "server"
    server_home.mkdir()
    with local_prefect_server(server_home) as api_url:
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            ensure_rate_limits([MERCHANT], RateLimits(PER_SECOND * 3600, PER_SECOND * 3600, BURST))
        homes = [tmp_path / f"worker-{n}" / "prefect" for n in (1, 2)]
        for home in homes:
            home.mkdir(parents=True)
        lines = run_released_together(
            CHILD,
            [[str(home), api_url, MERCHANT, str(REQUESTS_EACH)] for home in homes],
            cwd=tmp_path,
        )
    took = [float(line) for line in lines]
    alone = (REQUESTS_EACH - BURST) / PER_SECOND  # one host, its own limit: ~4 s
    together = (2 * REQUESTS_EACH - BURST) / PER_SECOND  # one shared limit: ~10 s
    print(
        f"\n{REQUESTS_EACH} requests each on two homes took {took} s "
        f"(own limits would need ~{alone:.0f} s, one shared limit ~{together:.0f} s)"
    )
    assert max(took) >= 0.8 * together, took
