"""The inbox in ``--dispatch event`` mode, on a real Prefect server with prefect.yaml's triggers.

A stored webhook is posted as a Prefect event; the deployment trigger of ``prefect.yaml``
creates the flow run, which this test executes in-process (no worker needed). The run must
settle the inbox row, and a re-dispatch after a crashed run must start a new run: Prefect
ignores an event id it has seen in the last 30 minutes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.events import DeploymentEventTrigger
from prefect.flow_engine import run_flow
from prefect.states import Crashed

from flows.intake import intake
from ledger import Ledger
from tasks.sweep import sweep_once
from tests.support.stack import Stack
from webhooks import EventDispatcher, InboxItem
from webhooks.inbox import dispatch_new

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MERCHANT = "sandbox-merchant"
PREFECT_YAML = Path(__file__).resolve().parents[2] / "prefect.yaml"
RUN_APPEARS_S = 20.0


def _trigger(deployment: str) -> DeploymentEventTrigger:
    """The trigger exactly as prefect.yaml declares it for ``deployment``."""
    specs = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))["deployments"]
    (spec,) = [d for d in specs if d["name"] == deployment]
    (trigger,) = spec["triggers"]
    return DeploymentEventTrigger(**{k: v for k, v in trigger.items() if k != "type"})


def _runs(deployment_id: uuid.UUID) -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )


def _new_run(deployment_id: uuid.UUID, known: set[uuid.UUID], timeout_s: float) -> FlowRun | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        fresh = [r for r in _runs(deployment_id) if r.id not in known]
        if fresh:
            return fresh[0]
        time.sleep(0.3)
    return None


@pytest.fixture(scope="module")
def on_return_authorized() -> Iterator[uuid.UUID]:
    """prefect.yaml's ``intake/on-return-authorized`` with its trigger, live on the server."""
    deployment = intake.to_deployment(
        name="on-return-authorized", triggers=[_trigger("on-return-authorized")]
    )
    deployment_id = deployment.apply()
    events = EventDispatcher()
    try:  # the trigger service loads new automations asynchronously: wait until it fires
        known: set[uuid.UUID] = set()
        for _ in range(20):
            events.dispatch(MERCHANT, "returnly", uuid.uuid4().hex, "return.authorized", "0")
            if _new_run(deployment_id, known, 3.0) is not None:
                break
        else:
            pytest.fail("the on-return-authorized trigger never started a run")
        with get_client(sync_client=True) as client:
            for run in _runs(deployment_id):
                client.delete_flow_run(run.id)
    finally:
        events.close()
    yield deployment_id


def _deliver(ledger: Ledger, return_id: str) -> str:
    """What the receiver does with a signed delivery in event mode: store, then dispatch."""
    message_id = uuid.uuid4().hex
    item = InboxItem("returnly", message_id, "return.authorized", return_id, {})
    ledger.put_inbox(item.source, message_id, MERCHANT, item.kind, return_id, {})
    events = EventDispatcher()
    try:
        assert dispatch_new(ledger, events, MERCHANT, [item]) == 1
    finally:
        events.close()
    return message_id


def _execute(run: FlowRun) -> Any:
    """Run the triggered flow run here, as a worker would in its subprocess."""
    return run_flow(intake, flow_run=run, parameters=run.parameters, return_type="state")


def test_triggered_run_marks_its_inbox_message_processed(
    stack: Stack, ledger: Ledger, on_return_authorized: uuid.UUID
) -> None:
    """Fails on the code before: the run completed and the row stayed ``emitted``."""
    rid = stack.plant(lines=[{"units": 1}])["id"]
    known = {r.id for r in _runs(on_return_authorized)}
    message_id = _deliver(ledger, rid)
    run = _new_run(on_return_authorized, known, RUN_APPEARS_S)
    assert run is not None, "the event started no run"

    state = _execute(run)

    assert state.type == StateType.COMPLETED, state
    row = ledger.get_inbox("returnly", message_id)
    assert row is not None and row.status == "processed", row.status if row else None
    assert row.attempts == 1


def test_redispatch_after_a_crashed_run_starts_a_new_run(
    stack: Stack, ledger: Ledger, on_return_authorized: uuid.UUID
) -> None:
    """Fails on the code before: the sweeper re-posted the same event id, which Prefect
    drops as already seen, so no second run ever came and the message never finished."""
    rid = stack.plant(lines=[{"units": 1}])["id"]
    known = {r.id for r in _runs(on_return_authorized)}
    message_id = _deliver(ledger, rid)
    first = _new_run(on_return_authorized, known, RUN_APPEARS_S)
    assert first is not None
    with get_client(sync_client=True) as client:  # its worker died before it started
        client.set_flow_run_state(first.id, Crashed(message="worker killed"), force=True)

    swept = sweep_once(0, 10, ledger=ledger, dispatcher=EventDispatcher())

    assert swept.dispatched == 1
    second = _new_run(on_return_authorized, known | {first.id}, RUN_APPEARS_S)
    assert second is not None, "the re-dispatch started no new run"
    assert _execute(second).type == StateType.COMPLETED
    row = ledger.get_inbox("returnly", message_id)
    assert row is not None and (row.status, row.attempts) == ("processed", 2)
