"""The real dispatchers and the sweep-inbox flow against a real (throwaway) Prefect server."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName
from prefect.flows import load_flow_from_entrypoint
from prefect.results import ResultStore, get_or_create_default_task_scheduling_storage
from prefect.task_worker import read_parameters

from flows.sweep_inbox import sweep_inbox
from ledger import open_ledger
from tests.integration.webhooks.support import MERCHANT
from webhooks import EventDispatcher, SweepResult, TaskWorkerDispatcher, event_id
from webhooks.events import prefect_api_url

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]


def _find_event(name: str, wanted_id: str, timeout_s: float = 15.0) -> dict[str, Any]:
    """Read events back through the API until ours shows up (events are persisted async)."""
    url = f"{prefect_api_url()}/events/filter"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reply = httpx.post(url, json={"filter": {"event": {"name": [name]}}}, timeout=10)
        reply.raise_for_status()
        for event in reply.json()["events"]:
            if event["id"] == wanted_id:
                found: dict[str, Any] = event
                return found
        time.sleep(0.2)
    raise AssertionError(f"event {wanted_id} never appeared")


def _inbox_task_runs() -> dict[str, str]:
    """Task runs of ``handle_inbox_message`` by id, with their state type."""
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="handle-inbox-message"))
        )
    return {str(r.id): r.state.type.value if r.state else "" for r in runs}


def test_task_worker_dispatcher_queues_a_deferred_task_run() -> None:
    before = _inbox_task_runs()

    TaskWorkerDispatcher().dispatch(MERCHANT, "returnly", "d-1", "return.authorized", "1001")

    new = {k: v for k, v in _inbox_task_runs().items() if k not in before}
    assert list(new.values()) == ["SCHEDULED"]  # waiting for a task worker


PROBE_FLOW = """
from prefect import flow

from webhooks import TaskWorkerDispatcher


@flow
def probe(message_id: str) -> None:
    TaskWorkerDispatcher().dispatch("sandbox-merchant", "returnly", message_id, "a", "1")
"""


def test_a_dispatch_from_a_deployed_flow_can_be_read_by_the_task_worker(tmp_path: Path) -> None:
    """Like sweep-inbox on a worker: the flow is loaded from its entrypoint under a module
    name the task worker cannot import, so the queued run must not carry the flow."""
    script = tmp_path / "probe_dispatch_flow.py"
    script.write_text(textwrap.dedent(PROBE_FLOW))
    probe = load_flow_from_entrypoint(f"{script}:probe")
    before = _inbox_task_runs()
    probe(message_id="d-probe")
    sys.modules.pop("probe_dispatch_flow", None)  # as in the task worker's process

    (new,) = [k for k in _inbox_task_runs() if k not in before]
    with get_client(sync_client=True) as client:
        run = client.read_task_run(uuid.UUID(new))
    assert run.state is not None and run.state.state_details.task_parameters_id is not None

    async def read() -> dict[str, Any]:
        store = ResultStore(result_storage=await get_or_create_default_task_scheduling_storage())
        return await read_parameters(store, run.state.state_details.task_parameters_id)

    data = asyncio.run(read())  # what the task worker does with it
    assert data["parameters"]["message_id"] == "d-probe"
    assert data["context"]["flow_run_context"] == {}


def test_event_dispatcher_posts_an_event_prefect_accepts() -> None:
    message_id = f"m-{uuid.uuid4().hex[:8]}:0"
    events = EventDispatcher()

    events.dispatch(MERCHANT, "ams", message_id, "received", "RLY-77")

    event = _find_event("ams.rma.received", str(event_id("ams", message_id)))
    assert event["resource"]["prefect.resource.id"] == "ams.rma.RLY-77"
    assert event["payload"]["customer_identifier"] == "RLY-77"
    events.close()


def test_sweep_inbox_flow_emits_pending_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("BRIDGE_LEDGER_URL", url)
    monkeypatch.setenv("BRIDGE_WEBHOOKS_DISPATCH", "event")
    message_id = f"d-{uuid.uuid4().hex[:8]}"
    with open_ledger(url) as ledger:
        ledger.put_inbox("returnly", message_id, MERCHANT, "return.authorized", "3003", {})

        result = sweep_inbox(older_than_seconds=0, limit=10)

        assert result == SweepResult(examined=1, dispatched=1)
        row = ledger.get_inbox("returnly", message_id)
        assert row is not None and row.status == "emitted"
    event = _find_event("returnly.return.authorized", str(event_id("returnly", message_id)))
    assert event["payload"]["return_id"] == "3003"
