"""The bridge operated the way production runs it, on one machine.

A real ``prefect server`` on a free port, once on SQLite and once on Postgres (when
``BRIDGE_TEST_POSTGRES_URL`` is set: its own database, as operators run it beyond a laptop);
``bridge deploy`` (work pool, rate limits, block type, ``prefect --no-prompt deploy --all``
from prefect.yaml); a ``process`` worker; both sandboxes; the webhook receiver emitting Prefect
events. Deployments are then triggered four ways - CLI, ``run_deployment``, an event from a
real Returnly webhook, a schedule - and each run must complete with its effect visible in the
sandboxes and carry its merchant's tag. Trigger-to-start times are printed. Last, a
reconciliation fails on drift above ``fail_above`` and the alert automation ``bridge deploy``
created must notify a loopback webhook about it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.schedules import IntervalSchedule
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings
from pydantic import SecretStr

from clients.ams import AmsClient, CallbackCreate
from clients.returnly import ReturnlyClient
from core.mapping import customer_identifier_for
from core.merchant import MerchantConfig
from core.policy import REFUND, MerchantPolicy
from core.settings import (
    SANDBOX_ACCOUNT,
    SANDBOX_AMS_TOKEN,
    SANDBOX_CALLBACK_TOKEN,
    SANDBOX_RETURNLY_TOKEN,
    SANDBOX_WEBHOOK_SECRET,
)
from deployments.alerts import AUTOMATION_NAME
from deployments.local_stack import bridge_env
from deployments.prefect_server import local_prefect_server, prefect_env, spawn, stop_process
from flows.common import merchant_tag
from ledger import Ledger, open_ledger
from sandbox.ams.app import create_app as create_ams
from sandbox.returnly.app import create_app as create_returnly
from sandbox.server import ThreadedServer
from tests.support.postgres import asyncpg_url, fresh_database, postgres_url_or_skip
from tests.support.stack import sink_app
from webhooks.app import create_app as create_receiver
from webhooks.events import EventDispatcher

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")
MERCHANT = SANDBOX_ACCOUNT
RUN_TIMEOUT_S = 150.0
FINAL = {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}
LATENCIES: dict[str, dict[str, float]] = {}
ALERT_BLOCK = "e2e-alerts"
ALERT_TIMEOUT_S = 60.0


@dataclass
class Bridge:
    """Everything running, and what the tests need to drive it."""

    api_url: str
    env: dict[str, str]
    returnly_url: str
    ams_url: str
    ledger: Ledger
    workdir: Path
    deploy_output: str = ""
    started: list[str] = field(default_factory=list)
    sink_received: list[bytes] = field(default_factory=list)

    def returnly(self) -> ReturnlyClient:
        return ReturnlyClient(base_url=self.returnly_url, api_token=SANDBOX_RETURNLY_TOKEN)

    def ams(self) -> AmsClient:
        return AmsClient(base_url=self.ams_url, account=MERCHANT, api_token=SANDBOX_AMS_TOKEN)

    def plant(self, status: str = "authorized") -> str:
        reply = httpx.post(f"{self.returnly_url}/_admin/returns", json={"status": status})
        reply.raise_for_status()
        return str(reply.json()["id"])

    def set_status(self, return_id: str, status: str) -> None:
        httpx.post(
            f"{self.returnly_url}/_admin/returns/{return_id}/status", json={"status": status}
        ).raise_for_status()

    def rma_exists(self, return_id: str) -> bool:
        with self.ams() as ams:
            rma = ams.get_rma_by_cid(customer_identifier_for(return_id))
        return rma is not None and not rma.is_deleted

    def refund_count(self, return_id: str) -> int:
        reply = httpx.get(f"{self.returnly_url}/_admin/returns/{return_id}/refunds")
        return int(reply.json()["count"])

    def plant_critical_drift(self) -> str:
        """Refunded in Returnly, its RMA never received in AMS: critical drift."""
        now = datetime.now(UTC)
        reply = httpx.post(
            f"{self.returnly_url}/_admin/returns",
            json={
                "status": "refunded",
                "created_at": (now - timedelta(days=6)).isoformat(),
                "updated_at": (now - timedelta(days=2)).isoformat(),
                "refunds": [{"created_at": (now - timedelta(days=2)).isoformat()}],
            },
        )
        reply.raise_for_status()
        rid = str(reply.json()["id"])
        httpx.post(
            f"{self.ams_url}/_admin/rmas",
            json={
                "customer_identifier": customer_identifier_for(rid),
                "created_at": (now - timedelta(days=6)).isoformat(),
                "line_items": [
                    {
                        "customer_sku_id": "TEE-BLACK-M",
                        "quantity": 1,
                        "return_reason_code": "tooBig",
                    }
                ],
            },
        ).raise_for_status()
        return rid

    def alerts(self) -> list[dict[str, str]]:
        """Notifications the alert automation posted to the loopback sink."""
        found = []
        for raw in list(self.sink_received):
            with contextlib.suppress(ValueError):
                body = json.loads(raw)
                if isinstance(body, dict) and "subject" in body:
                    found.append(body)
        return found


def _merchant(returnly_url: str, ams_url: str) -> MerchantConfig:
    return MerchantConfig(
        name=MERCHANT,
        returnly_base_url=returnly_url,
        returnly_api_token=SecretStr(SANDBOX_RETURNLY_TOKEN),
        returnly_webhook_secret=SecretStr(SANDBOX_WEBHOOK_SECRET),
        ams_base_url=ams_url,
        ams_account=MERCHANT,
        ams_api_token=SecretStr(SANDBOX_AMS_TOKEN),
        ams_callback_token=SecretStr(SANDBOX_CALLBACK_TOKEN),
        policy=MerchantPolicy(inventory_status_policy={"available": REFUND, "qc": REFUND}),
    )


def _wait_for_worker(client: SyncPrefectClient, pool: str) -> None:
    deadline = time.monotonic() + 60
    while not client.read_workers_for_work_pool(pool):
        if time.monotonic() > deadline:
            raise AssertionError("the worker never polled the work pool")
        time.sleep(0.5)


def _server_env(backend: str) -> dict[str, str]:
    """The Prefect server's database settings for ``backend`` (Postgres: a fresh database)."""
    if backend == "sqlite":
        return {}
    base = postgres_url_or_skip("the Prefect server")
    url = asyncpg_url(fresh_database(base, "bridge_e2e_prefect"))
    return {"PREFECT_SERVER_DATABASE_CONNECTION_URL": url}


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def bridge(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bridge]:
    backend = str(request.param)
    server_env = _server_env(backend)
    LATENCIES.clear()
    workdir = tmp_path_factory.mktemp(f"real-server-{backend}")
    home = workdir / "prefect"
    home.mkdir()
    with contextlib.ExitStack() as stack:
        api_url = stack.enter_context(local_prefect_server(home, env=server_env))
        stack.enter_context(temporary_settings(updates={PREFECT_API_URL: api_url}))
        servers = [ThreadedServer(app).start() for app in (create_returnly(), create_ams())]
        received: list[bytes] = []
        sink = ThreadedServer(sink_app(received)).start()
        for server in (*servers, sink):
            stack.callback(server.stop)
        returnly_url, ams_url = servers[0].url, servers[1].url
        ledger_path = workdir / "ledger.db"
        ledger = stack.enter_context(open_ledger(f"sqlite:///{ledger_path}"))
        base = {**prefect_env(home, api_url), "PREFECT_WORKER_QUERY_SECONDS": "2"}
        env = {**base, **bridge_env(returnly_url, ams_url, ledger_path)}
        env["BRIDGE_PROJECT_DIR"] = str(REPO)
        # Deploy without BRIDGE_PROJECT_DIR: the pull step keeps its template and each
        # worker resolves it from its own environment at run time.
        deploy_env = {k: v for k, v in {**os.environ, **env}.items() if k != "BRIDGE_PROJECT_DIR"}
        # Where the alert automation sends its notifications (a Slack webhook in production).
        CustomWebhookNotificationBlock(
            name="bridge alerts",
            url=f"{sink.url}/alerts",
            json_data={"subject": "{{subject}}", "body": "{{body}}"},
        ).save(ALERT_BLOCK, overwrite=True)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "deployments.deploy",
                "--paused",
                "--merchant",
                MERCHANT,
                "--ams-per-hour",
                "360000",
                "--returnly-per-hour",
                "360000",
                "--burst",
                "50",
                "--alert-block",
                f"custom-webhook/{ALERT_BLOCK}",
            ],
            cwd=REPO,
            env=deploy_env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

        config = _merchant(returnly_url, ams_url)
        receiver = ThreadedServer(
            create_receiver(
                ledger_factory=lambda: ledger,
                merchant_loader=lambda name: config if name == MERCHANT else _unknown(name),
                dispatcher=EventDispatcher(api_url),
            )
        ).start()
        stack.callback(receiver.stop)
        bridge = Bridge(
            api_url,
            env,
            returnly_url,
            ams_url,
            ledger,
            workdir,
            proc.stdout,
            sink_received=received,
        )
        with bridge.returnly() as returnly:
            for event in ("return.authorized", "return.canceled_by_merchant"):
                url = f"{receiver.url}/webhooks/returnly/{MERCHANT}"
                returnly.create_webhook(url, event, secret=config.returnly_webhook_secret)
        with bridge.ams() as ams:  # AMS needs a callback before its DataFactory acts
            cb = CallbackCreate(url=f"{sink.url}/ams", message_type="rmaEvent", api_version="2.0")
            ams.register_callbacks([cb])

        worker = spawn(
            [PREFECT, "worker", "start", "--pool", "bridge-pool", "--type", "process"],
            env,
            workdir / "worker.log",
            cwd=REPO,
        )
        stack.callback(stop_process, worker)
        with get_client(sync_client=True) as client:
            _wait_for_worker(client, "bridge-pool")
        yield bridge
        print(f"\n[{backend}] trigger -> run start (s): {json.dumps(LATENCIES, indent=1)}")
        (workdir / "latencies.json").write_text(json.dumps(LATENCIES, indent=1))


def _unknown(name: str) -> MerchantConfig:
    raise LookupError(name)


def _wait_final(client: SyncPrefectClient, run_id: UUID) -> FlowRun:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        run = client.read_flow_run(run_id)
        if run.state_type in FINAL:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"flow run {run.name} still {run.state_type} after timeout")
        time.sleep(0.5)


def _find_run(client: SyncPrefectClient, deployment: str, match: dict[str, Any]) -> FlowRun:
    dep = client.read_deployment_by_name(deployment)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id]))
        )
        found = [r for r in runs if all(r.parameters.get(k) == v for k, v in match.items())]
        if found:  # a schedule creates several runs ahead: take the earliest
            return min(found, key=lambda r: r.expected_start_time or r.created or datetime.max)
        time.sleep(0.5)
    raise AssertionError(f"no run of {deployment} with {match}")


def _record(how: str, run: FlowRun, triggered_at: datetime) -> None:
    assert run.start_time is not None and run.created is not None
    LATENCIES[how] = {
        "trigger_to_created_s": round((run.created - triggered_at).total_seconds(), 2),
        "trigger_to_start_s": round((run.start_time - triggered_at).total_seconds(), 2),
        "run_s": round(run.total_run_time.total_seconds(), 2),
    }
    print(f"{how}: {LATENCIES[how]}")


def test_the_ui_is_told_the_servers_real_api_address(bridge: Bridge) -> None:
    """The server listens on a free port; the UI must not look for the API on :4200."""
    settings = httpx.get(bridge.api_url.removesuffix("/api") + "/ui-settings", timeout=10).json()
    assert settings["api_url"] == bridge.api_url


def test_deploy_step_deployed_every_deployment(bridge: Bridge) -> None:
    for name in (
        "intake/intake-poll",
        "intake/on-return-authorized",
        "replay-return/replay-return",
        "backfill/backfill",
        "onboard-check/onboard-check",
        "arrival/on-rma-received",
    ):
        assert f"deployment {name}" in bridge.deploy_output
    assert "schedules paused: intake/intake-poll" in bridge.deploy_output
    assert f"automation {AUTOMATION_NAME}: created (send-notification to custom-webhook/" in (
        bridge.deploy_output
    )
    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name("replay-return/replay-return")
        assert dep.pull_steps == [
            {
                "prefect.deployments.steps.set_working_directory": {
                    "directory": "{{ $BRIDGE_PROJECT_DIR }}"
                }
            }
        ]
        assert client.read_global_concurrency_limit_by_name(f"ams-{MERCHANT}").limit == 50


def test_event_from_a_real_webhook_runs_intake(bridge: Bridge) -> None:
    rid = bridge.plant(status="requested")
    triggered = datetime.now(UTC)
    bridge.set_status(rid, "authorize")  # Returnly -> webhook -> receiver -> event -> run
    with get_client(sync_client=True) as client:
        run = _find_run(client, "intake/on-return-authorized", {"return_ids": [rid]})
        run = _wait_final(client, run.id)
    assert run.state_type == StateType.COMPLETED, run.state
    assert bridge.rma_exists(rid)
    assert merchant_tag(MERCHANT) in run.tags  # tagged by the flow: the event only names it
    _record("event (webhook sent -> run start)", run, triggered)


def test_cli_runs_replay_return(bridge: Bridge) -> None:
    rid = bridge.plant()
    params = json.dumps({"merchant": MERCHANT, "return_id": rid})
    triggered = datetime.now(UTC)
    out = subprocess.run(
        [PREFECT, "deployment", "run", "replay-return/replay-return", "--params", params],
        env={**os.environ, **bridge.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    found = re.search(r"UUID:\s*([0-9a-f-]{36})", out)
    assert found, out
    with get_client(sync_client=True) as client:
        run = _wait_final(client, UUID(found.group(1)))
    assert run.state_type == StateType.COMPLETED, run.state
    assert bridge.rma_exists(rid)
    link = bridge.ledger.get_link(MERCHANT, return_id=rid)
    assert link is not None and link.ams_uuid  # arrival read the RMA back and recorded it
    assert merchant_tag(MERCHANT) in run.tags
    _record("cli (prefect deployment run -> run start)", run, triggered)


def test_run_deployment_replays_then_completes(bridge: Bridge) -> None:
    rid = bridge.plant()
    first = run_deployment(
        "replay-return/replay-return", parameters={"merchant": MERCHANT, "return_id": rid}
    )
    assert isinstance(first, FlowRun) and first.state_type == StateType.COMPLETED
    with bridge.ams() as ams:
        ams.trigger_rma_event(customer_identifier_for(rid), "receiveFull")
    triggered = datetime.now(UTC)
    run = run_deployment(
        "completion/completion", parameters={"merchant": MERCHANT, "return_ids": [rid]}
    )
    assert isinstance(run, FlowRun) and run.state_type == StateType.COMPLETED, run
    assert bridge.refund_count(rid) == 1
    assert merchant_tag(MERCHANT) in run.tags
    _record("run_deployment (call -> run start)", run, triggered)


def test_schedule_runs_intake(bridge: Bridge) -> None:
    rid = bridge.plant()
    with get_client(sync_client=True) as client:
        poll = client.read_deployment_by_name("intake/intake-poll")
        dep_id = client.create_deployment(
            flow_id=poll.flow_id,
            name="e2e-every-10s",
            entrypoint=poll.entrypoint,
            pull_steps=poll.pull_steps,
            work_pool_name=poll.work_pool_name,
            parameter_openapi_schema=poll.parameter_openapi_schema,
            parameters={"merchant": MERCHANT},
            schedules=[
                DeploymentScheduleCreate(
                    schedule=IntervalSchedule(interval=timedelta(seconds=10)), active=True
                )
            ],
        )
        try:
            run = _find_run(client, "intake/e2e-every-10s", {"merchant": MERCHANT})
            run = _wait_final(client, run.id)
        finally:
            client.delete_deployment(dep_id)
    assert run.state_type == StateType.COMPLETED, run.state
    assert bridge.rma_exists(rid)
    assert merchant_tag(MERCHANT) in run.tags
    assert run.expected_start_time is not None
    _record("schedule (scheduled time -> run start)", run, run.expected_start_time)


def test_drift_above_threshold_fails_the_run_and_the_alert_fires(bridge: Bridge) -> None:
    """The automation `bridge deploy` created notifies about a real failed deployment run."""
    bridge.plant_critical_drift()
    run = run_deployment(
        "reconcile/reconcile-now",
        parameters={"merchant": MERCHANT, "fail_above": {"critical": 0}},
        timeout=RUN_TIMEOUT_S,
    )
    assert isinstance(run, FlowRun)
    assert run.state_type == StateType.FAILED, run.state
    assert "drift above thresholds" in str(run.state.message if run.state else "")
    assert run.end_time is not None
    deadline = time.monotonic() + ALERT_TIMEOUT_S
    while not (alerts := [a for a in bridge.alerts() if str(run.id) in a["body"]]):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no alert for {run.name} in {ALERT_TIMEOUT_S}s: {bridge.alerts()}"
            )
        time.sleep(0.5)
    seen = datetime.now(UTC)
    assert len(alerts) == 1, alerts
    (alert,) = alerts
    assert alert["subject"] == f"bridge: reconcile/{run.name} Failed"
    assert "drift above thresholds" in alert["body"]
    assert merchant_tag(MERCHANT) in alert["body"] and "returns-bridge" in alert["body"]
    LATENCIES["alert (run failed -> notification received)"] = {
        "run_end_to_alert_s": round((seen - run.end_time).total_seconds(), 2)
    }
    print(f"alert: {LATENCIES['alert (run failed -> notification received)']}\n{alert}")


def test_no_secret_is_left_anywhere_the_run_wrote(bridge: Bridge) -> None:
    """Issue 10's sweep, last in the module: every credential, in any encoding, nowhere."""
    from deployments.secrets_sweep import sweep
    from flows.progress import create_progress_artifact

    # The sweep can fail: a planted fake credential (base64) is found where it was put.
    planted = "planted-fake-credential-0451"
    create_progress_artifact(50.0, "sweep-canary", base64.b64encode(planted.encode()).decode())
    canary = sweep(bridge.api_url, [planted], [bridge.workdir])
    assert ("artifact sweep-canary", "base64") in [(h.where, h.form) for h in canary.hits], (
        canary.hits
    )

    secrets = _merchant(bridge.returnly_url, bridge.ams_url).secret_values()
    assert len(secrets) == 4
    report = sweep(bridge.api_url, secrets, [bridge.workdir])
    print(f"secrets sweep searched: {report.searched}")
    assert report.searched["logs"] > 20 and report.searched["flow_runs"] > 5
    assert report.searched["events"] > 10 and report.searched["files"] > 3
    assert report.hits == []
