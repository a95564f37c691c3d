"""Spreading merchants over workers on different hosts (issue 13, item 4).

One real Prefect server; every worker has its own ``PREFECT_HOME`` and directory, standing in
for its own host. A dedicated merchant's runs go to its own work queue and only the workers
on that queue run them (``bridge deploy --merchant-queue``, :mod:`deployments.merchant_queues`),
and a merchant's rate limit holds across hosts, because it lives on the server.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.deploy import RateLimits, ensure_rate_limits, ensure_work_pool
from deployments.local_deploy import WORKER_QUERY_SECONDS
from deployments.merchant_queues import dedicate, ensure_merchant_queues, queue_name
from deployments.prefect_server import local_prefect_server, prefect_env, spawn, stop_process
from tests.support.processes import run_released_together

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
POOL = "bridge-pool"
DEDICATED = "acme"
RUN_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("spreading-server")
    with local_prefect_server(home) as url:
        yield url


def _probe_deployment(pool: str) -> None:
    """A shared deployment as prefect.yaml makes them: ``merchant: all``, a schedule, a limit."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import IntervalSchedule

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("which-worker")
        client.create_deployment(
            flow_id=flow_id,
            name="probe",
            work_pool_name=pool,
            work_queue_name="default",
            entrypoint="tests/support/queue_probe.py:which_worker",
            path=str(REPO),
            pull_steps=[
                {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
            ],
            parameters={"merchant": "all"},
            tags=["returns-bridge", "poll"],
            concurrency_limit=1,
            schedules=[
                DeploymentScheduleCreate(
                    schedule=IntervalSchedule(interval=timedelta(hours=1)), active=False
                )
            ],
        )


def _start_worker(root: Path, name: str, api_url: str, queue: str) -> tuple[object, Path]:
    """``prefect worker start --work-queue queue`` on its own home and directory."""
    home = root / name / "prefect"
    home.mkdir(parents=True)
    log = root / name / "worker.log"
    prefect = str(Path(sys.executable).parent / "prefect")
    args = [prefect, "worker", "start", "--pool", POOL, "--type", "process"]
    env = {
        **prefect_env(home, api_url),
        "PREFECT_WORKER_QUERY_SECONDS": WORKER_QUERY_SECONDS,
        "PYTHONPATH": str(REPO),
        "PROBE_WORKER": name,
        "PROBE_DIR": str(root / "probes"),
    }
    return spawn([*args, "--work-queue", queue, "--name", name], env, log, cwd=home.parent), log


def test_a_dedicated_merchants_runs_go_to_its_own_queue_and_workers(
    api_url: str, tmp_path: Path
) -> None:
    """``--merchant-queue acme``: acme's copy runs only on the acme worker, the rest elsewhere.

    The shared deployment then selects ``all,-acme`` (acme is polled once, by its copy), and
    the copy keeps the schedule, the concurrency limit and the tags, plus ``merchant:acme``.
    """
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    (tmp_path / "probes").mkdir()
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        ensure_work_pool(POOL)
        _probe_deployment(POOL)
        assert ensure_merchant_queues(POOL, [DEDICATED]) == {queue_name(DEDICATED): "created"}
        assert ensure_merchant_queues(POOL, [DEDICATED]) == {queue_name(DEDICATED): "exists"}
        assert dedicate(POOL, [DEDICATED]) == [f"which-worker/probe-{DEDICATED}"]
        with get_client(sync_client=True) as client:
            shared = client.read_deployment_by_name("which-worker/probe")
            own = client.read_deployment_by_name(f"which-worker/probe-{DEDICATED}")
        assert shared.parameters == {"merchant": f"all,-{DEDICATED}"}
        assert own.parameters == {"merchant": DEDICATED}
        assert own.work_queue_name == queue_name(DEDICATED)
        assert shared.work_queue_name == "default"
        assert f"merchant:{DEDICATED}" in own.tags and "poll" in own.tags
        assert [s.schedule for s in own.schedules] == [s.schedule for s in shared.schedules]
        assert own.global_concurrency_limit is not None
        assert own.global_concurrency_limit.limit == 1

        workers = [
            _start_worker(tmp_path, f"{DEDICATED}-worker", api_url, queue_name(DEDICATED)),
            _start_worker(tmp_path, "default-worker", api_url, "default"),
        ]
        try:
            runs = {
                name: run_deployment(name, timeout=0)
                for name in (f"which-worker/probe-{DEDICATED}", "which-worker/probe")
            }
            deadline = time.monotonic() + RUN_TIMEOUT_S
            with get_client(sync_client=True) as client:
                while True:
                    states = {n: client.read_flow_run(r.id).state for n, r in runs.items()}
                    if all(s is not None and s.is_final() for s in states.values()):
                        break
                    if time.monotonic() > deadline:
                        logs = "\n".join(log.read_text()[-2000:] for _, log in workers)
                        raise AssertionError(f"runs not done in {RUN_TIMEOUT_S}s: {states}\n{logs}")
                    time.sleep(0.5)
        finally:
            for proc, _ in workers:
                stop_process(proc)  # type: ignore[arg-type]
    said = {n: (tmp_path / "probes" / str(r.id)).read_text() for n, r in runs.items()}
    assert said == {
        f"which-worker/probe-{DEDICATED}": f"{DEDICATED}-worker {DEDICATED}",
        "which-worker/probe": f"default-worker all,-{DEDICATED}",
    }, said
    assert runs[f"which-worker/probe-{DEDICATED}"].work_queue_name == queue_name(DEDICATED)


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


def test_two_homes_share_one_merchants_rate_limit(api_url: str, tmp_path: Path) -> None:
    """Two processes on two homes send one merchant's AMS requests through the clients' gate
    (:class:`runtime.RateGate` on ``ams-<merchant>``). Each limiting itself, each would be done
    in the time one needs alone; sharing the server-side limit, they take about twice that."""
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
