"""The operators' deploy step and a process worker, on the local stack (``make demo``).

``python -m deployments.deploy`` exactly as ``bridge deploy`` runs it (work pool, rate limits,
block type, alert automation, ``prefect --no-prompt deploy --all`` from prefect.yaml), then a
``prefect worker start --pool bridge-pool --type process`` that executes the deployment runs.
Schedules stay active, so the UI shows them and their runs.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from deployments.deploy import DEFAULT_POOL, PROJECT_DIR
from deployments.prefect_server import spawn

DEPLOY_TIMEOUT_S = 300.0
WORKER_START_TIMEOUT_S = 60.0
WORKER_QUERY_SECONDS = "2"
"""How often the worker asks for runs (Prefect's default is 10 s; PREFECT_NOTES §4)."""
LOCAL_RATE_LIMITS = ("--ams-per-hour", "360000", "--returnly-per-hour", "360000", "--burst", "50")
"""The sandboxes have no rate limit: limits exist (and show in the UI) without throttling."""


def run_deploy_step(env: Mapping[str, str], log: Path, merchant: str) -> list[str]:
    """``python -m deployments.deploy`` for ``merchant``; its output lines (also in ``log``).

    Run without ``BRIDGE_PROJECT_DIR``, as in production: the pull step keeps its template
    and the worker resolves it from its own environment.
    """
    deploy_env = {k: v for k, v in env.items() if k != "BRIDGE_PROJECT_DIR"}
    args = [sys.executable, "-m", "deployments.deploy", "--merchant", merchant]
    proc = subprocess.run(
        [*args, *LOCAL_RATE_LIMITS],
        cwd=PROJECT_DIR,
        env=deploy_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEPLOY_TIMEOUT_S,
        check=False,
    )
    log.write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        raise RuntimeError(f"the deploy step failed ({proc.returncode}); see {log}")
    return proc.stdout.splitlines()


def settle_stale_runs(before: datetime | None = None) -> int:
    """Runs an earlier demo left behind on this Prefect database; answers how many.

    Overdue scheduled runs are deleted (a new worker would start them all at once) and runs
    left Pending/Running by a demo that was killed are marked Crashed, which also frees
    their deployment's concurrency slot. Only called before this stack's worker starts.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    cutoff = before or datetime.now(UTC)
    open_types = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
    settled = 0
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=open_types))
            )
        )
        for run in runs:
            if run.state_type == StateType.SCHEDULED:
                if run.expected_start_time and run.expected_start_time < cutoff:
                    client.delete_flow_run(run.id)
                    settled += 1
                continue
            client.set_flow_run_state(
                run.id, Crashed(message="left unfinished by an earlier demo"), force=True
            )
            settled += 1
    return settled


_DEFAULT_SIGINT_EXEC = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)
"""Exec the worker with SIGINT handled: started from a background shell it would inherit
SIGINT=ignored and then ignore its own SIGTERM handler's SIGINT (PREFECT_NOTES §10)."""


def start_worker(
    env: Mapping[str, str], log: Path, pool: str = DEFAULT_POOL
) -> subprocess.Popen[bytes]:
    """A ``process`` worker on ``pool``, in its own process group (stop it with stop_process)."""
    prefect = str(Path(sys.executable).parent / "prefect")
    args = [prefect, "worker", "start", "--pool", pool, "--type", "process"]
    return spawn(
        [sys.executable, "-c", _DEFAULT_SIGINT_EXEC, *args],
        {**env, "PREFECT_WORKER_QUERY_SECONDS": WORKER_QUERY_SECONDS},
        log,
        cwd=PROJECT_DIR,
    )


def wait_for_worker(
    proc: subprocess.Popen[bytes], log: Path, since: datetime, pool: str = DEFAULT_POOL
) -> None:
    """Until a worker polled ``pool`` after ``since`` (an earlier demo's worker may be listed)."""
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + WORKER_START_TIMEOUT_S
    with get_client(sync_client=True) as client:
        while not any(
            w.last_heartbeat_time and w.last_heartbeat_time >= since
            for w in client.read_workers_for_work_pool(pool)
        ):
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited ({proc.returncode}); see {log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker never polled {pool}; see {log}")
            time.sleep(0.5)
