"""The demo's deployment runs: trigger them, wait, insist on COMPLETED, list what the UI shows.

Polls and the reconciliation are started with ``run_deployment`` (what ``prefect deployment
run`` and the UI's Run button do). One real Returnly webhook also goes out as the Prefect
event the receiver posts in ``--dispatch event`` mode, so one run is started by a deployment
trigger; the other webhooks go to the task worker (sub-second, PREFECT_NOTES §11) because 200
event-triggered process runs would not finish on two cores. Scheduled runs (``sweep-inbox``
every minute) run on their own and are listed at the end.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment

from deployments.event_sampler import SentEvent

FINAL = {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}
ACTIVE = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
POLL_S = 0.5
COLLISION = "concurrency limit"
"""In the message of a run cancelled because another run of its deployment was running."""


class DeploymentRunError(RuntimeError):
    """A deployment run the demo started did not complete."""


@dataclass
class DeploymentRun:
    """One deployment run, how it was started, and how it ended."""

    deployment: str
    trigger: str
    flow_run_id: str
    flow_run_name: str
    state: str
    tags: list[str] = field(default_factory=list)
    trigger_to_start_s: float | None = None
    run_s: float | None = None

    def line(self) -> str:
        """One line for the demo's output."""
        started = (
            f", started {self.trigger_to_start_s:.1f}s after the trigger"
            if self.trigger_to_start_s is not None
            else ""
        )
        ran = f", ran {self.run_s:.1f}s" if self.run_s is not None else ""
        return (
            f"{self.deployment:<30} {self.trigger:<16} {self.state:<10} "
            f"{self.flow_run_name} ({self.flow_run_id}){started}{ran}"
        )

    def as_dict(self) -> dict[str, Any]:
        """For the summary JSON."""
        return asdict(self)


def _record(
    client: SyncPrefectClient, run: FlowRun, trigger: str, triggered: datetime | None
) -> DeploymentRun:
    dep = client.read_deployment(run.deployment_id) if run.deployment_id else None
    flow = client.read_flow(run.flow_id)
    start = run.start_time
    return DeploymentRun(
        deployment=f"{flow.name}/{dep.name}" if dep else flow.name,
        trigger=trigger,
        flow_run_id=str(run.id),
        flow_run_name=run.name,
        state=(run.state.name if run.state else None) or "?",
        tags=sorted(run.tags),
        trigger_to_start_s=round((start - triggered).total_seconds(), 2)
        if start and triggered
        else None,
        run_s=round(run.total_run_time.total_seconds(), 2) if run.end_time else None,
    )


def _wait_idle(client: SyncPrefectClient, deployment: str, timeout: float) -> None:
    """Until no run of ``deployment`` is active (its limit of 1 would cancel ours)."""
    dep = client.read_deployment_by_name(deployment)
    deadline = time.monotonic() + timeout
    while client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ACTIVE))
        ),
    ):
        if time.monotonic() > deadline:
            raise DeploymentRunError(f"{deployment}: another run still active after {timeout}s")
        time.sleep(POLL_S)


def _check(run: FlowRun, deployment: str) -> None:
    if run.state_type != StateType.COMPLETED:
        message = run.state.message if run.state else ""
        raise DeploymentRunError(
            f"deployment {deployment}: flow run {run.name} ({run.id}) ended "
            f"{run.state.name if run.state else 'without a state'}: {message}"
        )


def run_and_wait(
    deployment: str, parameters: dict[str, Any], timeout: float, attempts: int = 3
) -> DeploymentRun:
    """``run_deployment`` and block until the run is final; it must be COMPLETED.

    A scheduled run of the same poll may be running: the deployment's concurrency limit then
    cancels ours at once, so the call waits for it and tries again.
    """
    with get_client(sync_client=True) as client:
        for attempt in range(1, attempts + 1):
            _wait_idle(client, deployment, timeout)
            triggered = datetime.now(UTC)
            run = run_deployment(
                deployment, parameters=parameters, timeout=timeout, poll_interval=POLL_S
            )
            assert isinstance(run, FlowRun)
            if run.state_type not in FINAL:
                raise DeploymentRunError(
                    f"deployment {deployment}: flow run {run.name} ({run.id}) still "
                    f"{run.state_type} after {timeout}s (is the worker running?)"
                )
            collided = COLLISION in str(run.state.message if run.state else "")
            if run.state_type == StateType.CANCELLED and collided and attempt < attempts:
                continue
            _check(run, deployment)
            return _record(client, run, "run_deployment", triggered)
    raise AssertionError("unreachable")


def wait_event_run(deployment: str, sent: SentEvent, timeout: float) -> DeploymentRun:
    """The run the event's trigger created (its ``return_ids`` name the return); COMPLETED."""
    how = f"event {sent.source}.{sent.kind}"
    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name(deployment)
        deadline = time.monotonic() + timeout
        while True:
            runs = [
                r
                for r in client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id]))
                )
                if r.parameters.get("return_ids") == [sent.subject_id]
            ]
            run = runs[0] if runs else None
            if run is not None and run.state_type in FINAL:
                _check(run, deployment)
                return _record(client, run, how, sent.at)
            if time.monotonic() > deadline:
                state = run.state_type if run else "not created"
                raise DeploymentRunError(
                    f"deployment {deployment}: the run for the {how} of return "
                    f"{sent.subject_id} is {state} after {timeout}s"
                )
            time.sleep(POLL_S)


def runs_since(since: datetime, known: list[DeploymentRun]) -> list[DeploymentRun]:
    """Every deployment run that started since ``since``: the demo's, then the scheduled ones."""
    ids = {r.flow_run_id for r in known}
    out = list(known)
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                expected_start_time=FlowRunFilterExpectedStartTime(
                    after_=since - timedelta(seconds=1)
                ),
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[*ACTIVE, *FINAL])  # not the ones ahead
                ),
            ),
        )
        for run in sorted(runs, key=lambda r: r.expected_start_time or since):
            if run.deployment_id is None or str(run.id) in ids:
                continue
            how = "schedule" if run.auto_scheduled else "other"
            out.append(_record(client, run, how, run.expected_start_time))
    return out


def deployments_overview() -> dict[str, dict[str, Any]]:
    """Each deployment: its active schedules and whether an event trigger starts it."""
    with get_client(sync_client=True) as client:
        flows = {f.id: f.name for f in client.read_flows()}
        deployments = client.read_deployments()
        started_by_automation = {  # a deployment's triggers are automations that run it
            getattr(action, "deployment_id", None)
            for a in client.read_automations()
            if a.enabled
            for action in a.actions
            if action.type == "run-deployment"
        }
    return {
        f"{flows.get(dep.flow_id, '?')}/{dep.name}": {
            "active_schedules": sum(1 for s in dep.schedules if s.active),
            "event_trigger": dep.id in started_by_automation,
        }
        for dep in sorted(deployments, key=lambda d: d.name)
    }
