"""The chaos run's stack: every bridge process its own OS process, the sandboxes in-process.

Like :mod:`deployments.local_stack`, but the Prefect server, the process worker, the task
worker and the webhook receiver (``python -m webhooks``) are each a child we can SIGKILL by
PID and start again on the same port and ``PREFECT_HOME`` (clients reconnect). The two
sandboxes are the outside world and stay in this process (threads). Everything binds to
127.0.0.1 on free ports and everything started is stopped on exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from core.settings import SANDBOX_ACCOUNT
from deployments.chaos.procs import Managed, Supervisor
from deployments.deploy import DEFAULT_POOL, PROJECT_DIR
from deployments.local_deploy import _DEFAULT_SIGINT_EXEC, WORKER_QUERY_SECONDS
from deployments.local_stack import bridge_env
from deployments.prefect_server import prefect_env
from runtime import rate_limit_name, reset_runtime
from sandbox.server import ThreadedServer, free_port

SERVER = "prefect-server"
PROCESS_WORKER = "process-worker"
TASK_WORKER = "task-worker"
RECEIVER = "receiver"
ROLES = (SERVER, PROCESS_WORKER, TASK_WORKER, RECEIVER)
READ_TIMEOUT_S = 5.0
"""The bridge's HTTP read timeout in the chaos run (``BRIDGE_HTTP_READ_TIMEOUT_S``), so a hang
of a few seconds is past it without holding a worker thread for the default 30 s."""
LEASE_TTL_S = 60.0
"""The ledger's lease time to live in the chaos run (``BRIDGE_LEDGER_LEASE_TTL_S``, default
600 s): a lease held by a killed process blocks its return until it runs out, and with the
default a 300-return run waited ten minutes after a kill. Each write starts with at least 45 s
of it left (``ledger.leases.RENEW_AFTER``), more than one write with its retries at a 5 s read
timeout."""
TASK_QUEUE_SIZE = 500_000
"""The server keeps background task runs for task workers in memory, 1000 by default; past that
``.delay()`` blocks inside the server. A 10,000-return burst queues far more."""
CHAOS_RATE_LIMITS = (
    *("--ams-per-hour", "36000000", "--returnly-per-hour", "36000000", "--burst", "5000"),
)
"""With ``--rate-limits``: limits that exist (every request passes the gate) but never bind,
the sandboxes having none. Without (the default) the deploy step's limits are deleted, so the
clients' gate does nothing: measured in 10,000-return runs here, the gate held the whole bridge
to 6-15 API requests/s even with these loose limits (each client takes its slots under a lock,
one Prefect API call per 5 requests, with 2 s spikes when the SQLite server is locked), and to
about 8/s with the demo's 360,000/h, burst 50."""
WORKER_HEARTBEAT_S = "5"
DEPLOY_TIMEOUT_S = 600.0
API_TIMEOUT_S = 10.0


@dataclass
class ChaosStack:
    """Addresses and handles of everything running."""

    workdir: Path
    api_url: str
    returnly_url: str
    ams_url: str
    receiver_url: str
    returnly: ThreadedServer
    ams: ThreadedServer
    returnly_app: Any
    """The Returnly sandbox app (``app.state.store``: progress counts without HTTP)."""
    ams_app: Any
    supervisor: Supervisor
    merchant: str = SANDBOX_ACCOUNT

    @property
    def ams_api_url(self) -> str:
        """The merchant's AMS API root."""
        return f"{self.ams_url}/{self.merchant}/api/v1"


def _get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=API_TIMEOUT_S)


def _post(url: str, body: Any) -> httpx.Response:
    return httpx.post(url, json=body, timeout=API_TIMEOUT_S)


def server_healthy(api_url: str) -> bool:
    """The API answers its health check."""
    return _get(f"{api_url}/health").status_code == 200


def worker_heartbeat_since(api_url: str, since: float, pool: str = DEFAULT_POOL) -> bool:
    """A worker of ``pool`` sent a heartbeat after ``since`` (unix seconds)."""
    response = _post(f"{api_url}/work_pools/{pool}/workers/filter", {})
    response.raise_for_status()
    for worker in response.json():
        beat = worker.get("last_heartbeat_time")
        if beat and datetime.fromisoformat(beat).timestamp() >= since:
            return True
    return False


def task_worker_ids(api_url: str) -> set[str]:
    """Identifiers of the task workers subscribed to the server right now."""
    response = _post(f"{api_url}/task_workers/filter", {})
    response.raise_for_status()
    return {str(w["identifier"]) for w in response.json()}


class TaskWorkerProbe:
    """Healthy once a task worker the server had not seen before has subscribed."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.seen: set[str] = set()

    def __call__(self, _managed: Managed) -> bool:
        ids = task_worker_ids(self.api_url)
        if ids - self.seen:
            self.seen |= ids
            return True
        return False


def _fresh(workdir: Path) -> None:
    """A clean run: no ledger, no Prefect database, no reports or logs from an earlier one."""
    for name in ("prefect", "reports", "logs", "export"):
        shutil.rmtree(workdir / name, ignore_errors=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{workdir / 'ledger.db'}{suffix}").unlink(missing_ok=True)


def run_deploy_step(env: dict[str, str], log: Path) -> None:
    """``python -m deployments.deploy`` with every schedule paused (the run drives the polls)."""
    deploy_env = {k: v for k, v in {**os.environ, **env}.items() if k != "BRIDGE_PROJECT_DIR"}
    args = [sys.executable, "-m", "deployments.deploy", "--merchant", SANDBOX_ACCOUNT, "--paused"]
    proc = subprocess.run(
        [*args, *CHAOS_RATE_LIMITS],
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


def drop_rate_limits(merchant: str = SANDBOX_ACCOUNT) -> list[str]:
    """Delete the merchant's rate limits (the clients' gate then does nothing); their names."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    names = [rate_limit_name(system, merchant) for system in ("ams", "returnly")]
    with get_client(sync_client=True) as client:
        for name in names:
            with contextlib.suppress(ObjectNotFound):
                client.delete_global_concurrency_limit_by_name(name)
    return names


def _roles(
    sup: Supervisor, env: dict[str, str], home: Path, api_url: str, receiver_port: int, logs: Path
) -> None:
    port = api_url.removeprefix("http://127.0.0.1:").removesuffix("/api")
    prefect = str(Path(sys.executable).parent / "prefect")
    server_env = {
        **prefect_env(home),
        "PREFECT_SERVER_TASKS_SCHEDULING_MAX_SCHEDULED_QUEUE_SIZE": str(TASK_QUEUE_SIZE),
    }
    sup.add(
        Managed(
            SERVER,
            [prefect, "server", "start", "--host", "127.0.0.1", "--port", port, "--analytics-off"],
            server_env,
            logs / "server.log",
            health=lambda _m: server_healthy(api_url),
        )
    )
    worker_argv = [prefect, "worker", "start", "--pool", DEFAULT_POOL, "--type", "process"]
    sup.add(
        Managed(
            PROCESS_WORKER,
            [sys.executable, "-c", _DEFAULT_SIGINT_EXEC, *worker_argv],
            {
                **env,
                "PREFECT_WORKER_QUERY_SECONDS": WORKER_QUERY_SECONDS,
                "PREFECT_WORKER_HEARTBEAT_SECONDS": WORKER_HEARTBEAT_S,
            },
            logs / "worker.log",
            health=lambda m: worker_heartbeat_since(api_url, m.started_at),
            cwd=PROJECT_DIR,
        )
    )
    sup.add(
        Managed(
            TASK_WORKER,
            [sys.executable, "-m", "deployments.task_worker"],
            env,
            logs / "task-worker.log",
            health=TaskWorkerProbe(api_url),
            cwd=PROJECT_DIR,
        )
    )
    receiver = f"http://127.0.0.1:{receiver_port}"
    receiver_argv = [sys.executable, "-m", "webhooks", "--host", "127.0.0.1", "--log-level"]
    receiver_argv.append("warning")  # one INFO line per request costs the receiver CPU
    sup.add(
        Managed(
            RECEIVER,
            [*receiver_argv, "--port", str(receiver_port), "--dispatch", "task"],
            env,
            logs / "receiver.log",
            health=lambda _m: _get(f"{receiver}/healthz").status_code == 200,
            cwd=PROJECT_DIR,
        )
    )


@contextlib.contextmanager
def chaos_stack(workdir: Path, t0: float, *, rate_limits: bool = False) -> Iterator[ChaosStack]:
    """Start everything (fresh state under ``workdir``), export the environment, stop it all."""
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    _fresh(workdir)
    home, logs = workdir / "prefect", workdir / "logs"
    home.mkdir()
    logs.mkdir()
    api_url = f"http://127.0.0.1:{free_port()}/api"
    receiver_port = free_port()
    os.environ.update(prefect_env(home, api_url))
    sup = Supervisor(t0)
    with contextlib.ExitStack() as stack:
        stack.callback(sup.stop_all)
        # Imported only now: Prefect reads its settings from the environment on import.
        from sandbox.ams.app import create_app as create_ams
        from sandbox.returnly.app import create_app as create_returnly

        returnly_app, ams_app = create_returnly(), create_ams()
        returnly = ThreadedServer(returnly_app).start()
        stack.callback(returnly.stop)
        ams = ThreadedServer(ams_app).start()
        stack.callback(ams.stop)
        env = {
            **prefect_env(home, api_url),
            **bridge_env(returnly.url, ams.url, workdir / "ledger.db"),
            "BRIDGE_WEBHOOKS_DISPATCH": "task",
            "BRIDGE_HTTP_READ_TIMEOUT_S": f"{READ_TIMEOUT_S:g}",
            "BRIDGE_LEDGER_LEASE_TTL_S": f"{LEASE_TTL_S:g}",
        }
        os.environ.update(env)
        reset_runtime()
        _roles(sup, env, home, api_url, receiver_port, logs)
        sup.start(SERVER)
        run_deploy_step(env, logs / "deploy.log")
        if not rate_limits:
            drop_rate_limits()
        for role in (PROCESS_WORKER, TASK_WORKER, RECEIVER):
            sup.start(role)
        yield ChaosStack(
            workdir=workdir,
            api_url=api_url,
            returnly_url=returnly.url,
            ams_url=ams.url,
            receiver_url=f"http://127.0.0.1:{receiver_port}",
            returnly=returnly,
            ams=ams,
            returnly_app=returnly_app,
            ams_app=ams_app,
            supervisor=sup,
        )


def wait_for(what: str, check: Any, timeout_s: float, poll_s: float = 0.5) -> float:
    """Poll ``check()`` until true (exceptions count as not yet); seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        with contextlib.suppress(Exception):
            if check():
                return time.monotonic() - start
        time.sleep(poll_s)
    raise TimeoutError(f"{what}: not after {timeout_s:.0f}s")
