"""Held refunds decided inside Prefect, the way the UI's Resume form does it.

A real ``prefect server`` on a free port, a ``process`` worker, both sandboxes over HTTP and a
SQLite ledger. Two returns are received as ``qc`` by a merchant whose policy reviews ``qc``;
the completion flow holds both, and the review queue starts one ``review-held-refund`` run
per held refund, which suspends on its approval form. The test then does what a person does
in the UI: ``POST /api/flow_runs/{id}/resume`` with the form's run input, approving one and
rejecting the other. Afterwards the Returnly sandbox's own refund records must show exactly
one refund for the approved return (and one refund POST in its request log) and none for the
rejected one; the ledger must show both exceptions closed with the decision, who and when.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from prefect.artifacts import Artifact
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.utilities.callables import parameter_schema

from core.mapping import customer_identifier_for
from core.settings import SANDBOX_ACCOUNT, SANDBOX_AMS_TOKEN
from deployments.local_stack import bridge_env
from deployments.prefect_server import local_prefect_server, prefect_env, spawn, stop_process
from flows.review_held_refund import review_held_refund
from ledger import Ledger, open_ledger
from runtime import reset_runtime
from sandbox.ams.app import create_app as create_ams
from sandbox.returnly.app import create_app as create_returnly
from sandbox.server import ThreadedServer
from tasks.review_queue import REVIEW_FLOW, review_artifact_key
from tests.support.stack import sink_app

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")
MERCHANT = SANDBOX_ACCOUNT
POOL = "review-e2e-pool"
WAIT_S = 120.0


@dataclass
class Env:
    api_url: str
    returnly_url: str
    ams_url: str
    sink_url: str
    ledger: Ledger
    bridge: dict[str, str]


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    workdir = tmp_path_factory.mktemp("review-e2e")
    home = workdir / "prefect"
    home.mkdir()
    with contextlib.ExitStack() as stack:
        api_url = stack.enter_context(local_prefect_server(home))
        stack.enter_context(temporary_settings(updates={PREFECT_API_URL: api_url}))
        apps = (create_returnly(), create_ams(), sink_app([]))
        servers = [ThreadedServer(app).start() for app in apps]
        for server in servers:
            stack.callback(server.stop)
        returnly_url, ams_url = servers[0].url, servers[1].url
        ledger_path = workdir / "ledger.db"
        bridge = bridge_env(returnly_url, ams_url, ledger_path)
        bridge["BRIDGE_AMS_REFUND_STATUSES"] = '["available"]'  # 'qc' receipts are reviewed
        with get_client(sync_client=True) as client:
            client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))
            flow_id = client.create_flow_from_name(REVIEW_FLOW)
            client.create_deployment(
                flow_id=flow_id,
                name=REVIEW_FLOW,
                entrypoint="flows/review_held_refund.py:review_held_refund",
                work_pool_name=POOL,
                pull_steps=[
                    {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
                ],
                parameter_openapi_schema=parameter_schema(
                    review_held_refund
                ).model_dump_for_openapi(),
                tags=["returns-bridge", "review"],
            )
        worker_env = {**prefect_env(home, api_url), "PREFECT_WORKER_QUERY_SECONDS": "1", **bridge}
        worker = spawn(
            [PREFECT, "worker", "start", "--pool", POOL, "--type", "process"],
            worker_env,
            workdir / "worker.log",
            cwd=REPO,
        )
        stack.callback(stop_process, worker)
        ledger = stack.enter_context(open_ledger(f"sqlite:///{ledger_path}"))
        stack.callback(_drain_prefect_services)  # runs first, while the server is still up
        yield Env(api_url, returnly_url, ams_url, servers[2].url, ledger, bridge)


def _drain_prefect_services() -> None:
    """Stop the in-process services this module's flows started against its own server.

    They are process-wide singletons bound to the API they first saw: left running, the tag
    concurrency and event services of every later in-process flow in this pytest process
    would keep calling this module's stopped server (ConnectError, "Unable to acquire
    concurrency slots on ['tag:returnly']", every later flow test failing).
    """
    from prefect.concurrency.services import (
        ConcurrencySlotAcquisitionService,
        ConcurrencySlotAcquisitionWithLeaseService,
    )
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for service in (
        APILogWorker,
        EventsWorker,
        ConcurrencySlotAcquisitionService,
        ConcurrencySlotAcquisitionWithLeaseService,
    ):
        service.drain_all(timeout=30)


@pytest.fixture
def bridge_settings(e2e: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process runs intake and arrival itself: the same settings as the worker's."""
    for key, value in e2e.bridge.items():
        monkeypatch.setenv(key, value)
    reset_runtime()
    yield
    reset_runtime()


def _received_return(e: Env) -> str:
    """A return with its RMA created in AMS and received there (filed under 'qc')."""
    from clients.ams import AmsClient, CallbackCreate

    rid = str(
        httpx.post(f"{e.returnly_url}/_admin/returns", json={"status": "authorized"}).json()["id"]
    )
    with AmsClient(base_url=e.ams_url, account=MERCHANT, api_token=SANDBOX_AMS_TOKEN) as ams:
        ams.register_callbacks(
            [CallbackCreate(url=f"{e.sink_url}/ams", message_type="rmaEvent", api_version="2.0")]
        )
        from flows.intake import intake

        intake(merchant=MERCHANT, return_ids=[rid])
        ams.trigger_rma_event(customer_identifier_for(rid), "receiveFull")
    return rid


def _wait(client: SyncPrefectClient, run_id: UUID, done: set[StateType]) -> FlowRun:
    deadline = time.monotonic() + WAIT_S
    while True:
        run = client.read_flow_run(run_id)
        if run.state_type in done:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run.name} still {run.state_name}")
        time.sleep(0.5)


def _resume(e: Env, run_id: UUID, decision: str) -> httpx.Response:
    """Exactly what the UI's Resume form sends; a 503 (SQLite busy) is sent again, as a
    person would press the button again."""
    body = {
        "run_input": {
            "decision": decision,
            "deduction_amount": 0,
            "reviewer": "ann@example.com",
            "note": f"{decision}d in the e2e test",
        }
    }
    for _ in range(10):
        reply = httpx.post(f"{e.api_url}/flow_runs/{run_id}/resume", json=body, timeout=30)
        if reply.status_code != 503:
            return reply
        time.sleep(1)
    return reply


def _refund_posts(e: Env) -> int:
    """Refund POSTs the Returnly sandbox received (its own request log)."""
    body = httpx.get(
        f"{e.returnly_url}/_admin/requests", params={"since": 0, "limit": 100_000}
    ).json()
    rows = body["requests"] if isinstance(body, dict) else body
    return sum(1 for r in rows if r["method"] == "POST" and "refunds" in r["path"])


@pytest.mark.usefixtures("bridge_settings")
def test_approve_one_held_refund_and_reject_another_through_the_resume_form(e2e: Env) -> None:
    from flows.arrival import arrival

    started = time.monotonic()
    approved, rejected = _received_return(e2e), _received_return(e2e)
    arrival(merchant=MERCHANT)  # records the receipts and holds both refunds for review
    held = {
        x.return_id: x for x in e2e.ledger.list_exceptions(MERCHANT) if x.reason.startswith("held:")
    }
    assert set(held) == {approved, rejected}
    reviews = {r.return_id: r for r in e2e.ledger.held_reviews(MERCHANT)}
    assert set(reviews) == {approved, rejected} and all(r.flow_run_id for r in reviews.values())

    with get_client(sync_client=True) as client:
        runs = {
            rid: _wait(client, UUID(r.flow_run_id or ""), {StateType.PAUSED})
            for rid, r in reviews.items()
        }
        suspended_at = time.monotonic()
        for run in runs.values():  # the approval form the UI renders
            keyset = run.state.state_details.run_input_keyset if run.state else None
            assert keyset and "schema" in keyset and "response" in keyset
        table = Artifact.get(review_artifact_key(MERCHANT))
        assert table is not None and str(held[approved].id) in str(table.data)

        for rid, decision in ((approved, "approve"), (rejected, "reject")):
            reply = _resume(e2e, runs[rid].id, decision)
            assert reply.status_code == 201, reply.text
            assert reply.json()["status"] == "ACCEPT", reply.text
        finals = {
            rid: _wait(client, run.id, {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED})
            for rid, run in runs.items()
        }
    ended = time.monotonic()
    assert all(r.state_type == StateType.COMPLETED for r in finals.values()), {
        rid: r.state_name for rid, r in finals.items()
    }

    # The sandbox's own refund records, and the refund POSTs it received.
    def refunds(rid: str) -> int:
        return int(httpx.get(f"{e2e.returnly_url}/_admin/returns/{rid}/refunds").json()["count"])

    assert refunds(approved) == 1 and refunds(rejected) == 0
    assert _refund_posts(e2e) == 1

    for rid, decision in ((approved, "approve"), (rejected, "reject")):
        exc = e2e.ledger.get_exception(held[rid].id)
        review = e2e.ledger.get_held_review(held[rid].id)
        assert exc is not None and review is not None
        assert exc.status == "resolved" and exc.resolved_by == "ann@example.com"
        assert exc.resolved_at is not None and exc.note and exc.note.startswith(decision)
        assert review.status == "done" and review.decision == decision
        assert review.decided_by == "ann@example.com" and review.decided_at is not None
    assert e2e.ledger.get_held_review(held[approved].id).outcome.startswith("refunded")  # type: ignore[union-attr]
    print(
        f"\nheld -> both suspended {suspended_at - started:.1f}s; "
        f"resume -> both applied {ended - suspended_at:.1f}s"
    )
