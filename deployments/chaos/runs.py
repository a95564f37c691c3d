"""Deployment runs during chaos: start with ``run_deployment`` (as the UI's Run button does),
wait for a final state, and tolerate what chaos does to them.

Unlike :mod:`deployments.demo_runs`, a run that fails is recorded, not raised: under faults a
poll may exhaust its retries, and a run whose worker was killed is crashed by
:func:`crash_orphaned_runs` (what the zombie automation of PREFECT_NOTES §5 does, at once).
Every Prefect API call is retried across a server restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar
from uuid import UUID

logger = logging.getLogger(__name__)

T = TypeVar("T")
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
OPEN = ["PENDING", "RUNNING", "CANCELLING"]
POLL_S = 1.0
API_RETRY_S = 120.0
COLLISION = "concurrency limit"


@dataclass
class RunRecord:
    """One deployment run the chaos run started."""

    deployment: str
    flow_run_id: str
    state: str
    started_at: float
    """Seconds since the chaos run started."""
    wall_s: float
    message: str = ""
    attempts: int = 1

    def as_dict(self) -> dict[str, Any]:
        """For the summary JSON."""
        return asdict(self)


def api_call(what: str, call: Callable[[], T], timeout_s: float = API_RETRY_S) -> T:
    """``call()``, retried while the Prefect server is down or restarting."""
    deadline = time.monotonic() + timeout_s
    delay = 0.5
    while True:
        try:
            return call()
        except Exception as exc:
            if time.monotonic() > deadline:
                raise
            logger.info("%s: %s; retrying in %.1fs", what, type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _state(run_id: UUID) -> tuple[str, str]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
    state = run.state
    return (state.type.value if state else "?"), (state.message or "" if state else "")


def run_once(
    deployment: str, parameters: dict[str, Any], t0: float, timeout_s: float, attempts: int = 5
) -> RunRecord:
    """Start a run and wait until it is final; a run cancelled by the deployment's own
    concurrency limit (another run of it still going) is started again."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    started = time.monotonic()
    record = RunRecord(deployment, "", "?", round(started - t0, 2), 0.0)
    for attempt in range(1, attempts + 1):
        record.attempts = attempt
        run = api_call(
            f"start {deployment}",
            lambda: run_deployment(deployment, parameters=parameters, timeout=0),
        )
        assert isinstance(run, FlowRun)
        run_id = run.id
        record.flow_run_id = str(run_id)
        deadline = time.monotonic() + timeout_s
        state, message = "?", ""
        while time.monotonic() < deadline:
            state, message = api_call("read run", lambda: _state(run_id))  # noqa: B023
            if state in FINAL:
                break
            time.sleep(POLL_S)
        record.state, record.message = state, message[:300]
        if state == "CANCELLED" and COLLISION in message and attempt < attempts:
            time.sleep(2.0)
            continue
        break
    record.wall_s = round(time.monotonic() - started, 2)
    logger.info("%s %s in %.1fs %s", deployment, record.state, record.wall_s, record.message[:80])
    return record


def crash_orphaned_runs(note: str) -> int:
    """Mark every open deployment run Crashed: call only while no process worker is alive,
    so each is a run whose process died with the worker. Frees their concurrency slots."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    def crash() -> int:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType(s) for s in OPEN])
                    )
                )
            )
            for run in runs:
                client.set_flow_run_state(run.id, Crashed(message=note), force=True)
            return len(runs)

    return api_call("crash orphaned runs", crash)
