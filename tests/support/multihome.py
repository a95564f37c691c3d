"""The bridge laid out as separate hosts on one machine: each process its own PREFECT_HOME and
working directory, sharing only the Prefect API, the ledger and the task storage.

A real ``prefect server``, the deploy step, the webhook receiver (``python -m webhooks``),
task workers (``python -m deployments.task_worker``) and process workers (``prefect worker
start --type process``, only when the deploy step created the deployments) as child
processes; the sandboxes run in this process on loopback. Everything started here is stopped
on exit.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from core.settings import SANDBOX_ACCOUNT
from deployments.local_stack import bridge_env
from deployments.prefect_server import local_prefect_server, prefect_env, spawn, stop_process
from sandbox.server import ThreadedServer, free_port

REPO = Path(__file__).resolve().parents[2]
MERCHANT = SANDBOX_ACCOUNT
READY_TIMEOUT_S = 90.0
_RECEIVED = re.compile(r"Received task run: [0-9a-f-]{36} - (\S+)")
_RAN = re.compile(r"Flow run '[^']+' - View at \S+/runs/flow-run/([0-9a-f-]{36})")
PREFECT = str(Path(sys.executable).parent / "prefect")
POOL = "bridge-pool"


@dataclass
class Host:
    """One bridge process standing in for a host: its home, its directory, its log."""

    name: str
    home: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def text(self) -> str:
        """Everything the process wrote so far."""
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def received(self) -> list[str]:
        """Names of the task runs this task worker received."""
        return _RECEIVED.findall(self.text())

    def ran(self) -> list[str]:
        """Ids of the flow runs that ran under this process worker.

        The engine's own "View at .../flow-run/<id>" line, which the worker's child process
        writes to the worker's output. Not "submitting flow run": both workers can pick up
        the same run, and the loser's submission is aborted by the server.
        """
        return _RAN.findall(self.text())


@dataclass
class Layout:
    """Addresses and hosts of a running multi-home layout."""

    api_url: str
    returnly_url: str
    ams_url: str
    receiver_url: str
    ledger_url: str
    env: dict[str, str]
    """What every bridge process shares (no PREFECT_HOME): API, ledger, merchant, storage."""
    deploy_output: str
    task_workers: list[Host] = field(default_factory=list)
    process_workers: list[Host] = field(default_factory=list)
    receiver: Host | None = None

    def host_env(self, host: Host) -> dict[str, str]:
        """The shared settings plus this host's own Prefect home."""
        return {**self.env, **prefect_env(host.home, self.api_url)}


def _host(root: Path, name: str) -> Host:
    home = root / name / "prefect"
    home.mkdir(parents=True)
    return Host(name=name, home=home, log=root / name / f"{name}.log")


def _stop(host: Host) -> None:
    """Stop the host's process group, if it was started."""
    if host.proc is not None:
        stop_process(host.proc)


def _wait_for(
    what: str, done: Callable[[], bool], host: Host, timeout_s: float = READY_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if host.proc is not None and host.proc.poll() is not None:
            raise AssertionError(f"{host.name} exited ({host.proc.returncode}):\n{host.text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not ready in {timeout_s}s:\n{host.text()[-3000:]}")
        time.sleep(0.25)


def run_deploy(env: Mapping[str, str], host: Host, *extra: str, deployments: bool = False) -> str:
    """``python -m deployments.deploy`` from the deploy host; its output.

    Without ``deployments``: ``--skip-deploy`` (pool, limits, blocks, task storage: what the
    task workers need, ~20 s less); with it every deployment of prefect.yaml, schedules
    paused so only the runs a test triggers run.
    """
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deployments.deploy",
            *(("--paused",) if deployments else ("--skip-deploy",)),
            "--merchant",
            MERCHANT,
            "--ams-per-hour",
            "360000",
            "--returnly-per-hour",
            "360000",
            "--burst",
            "50",
            *extra,
        ],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    host.log.parent.mkdir(parents=True, exist_ok=True)
    host.log.write_text(proc.stdout + proc.stderr, encoding="utf-8")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def start_task_worker(layout: Layout, host: Host) -> Host:
    """``python -m deployments.task_worker`` in the host's own directory; waits until it listens."""
    host.proc = spawn(
        [sys.executable, "-m", "deployments.task_worker"],
        {**layout.host_env(host), "PYTHONPATH": str(REPO)},
        host.log,
        cwd=host.home.parent,
    )
    _wait_for(f"task worker {host.name}", lambda: "Subscribing to runs" in host.text(), host)
    layout.task_workers.append(host)
    return host


def spawn_process_worker(layout: Layout, host: Host, limit: int = 1) -> Host:
    """``prefect worker start --pool bridge-pool --type process`` on the host's own home.

    Its working directory is the host's; ``BRIDGE_PROJECT_DIR`` (the checkout, as on a real
    host) is where the pull step takes each flow run. ``limit=1``: a busy worker leaves the
    next run to the other one, so concurrent runs spread over both.
    """
    args = [PREFECT, "worker", "start", "--pool", POOL, "--type", "process"]
    host.proc = spawn(
        [*args, "--name", host.name, "--limit", str(limit)],
        {
            **layout.host_env(host),
            "BRIDGE_PROJECT_DIR": str(REPO),
            "PYTHONPATH": str(REPO),
            "PREFECT_WORKER_QUERY_SECONDS": "1",
        },
        host.log,
        cwd=host.home.parent,
    )
    layout.process_workers.append(host)
    return host


def wait_for_process_worker(layout: Layout, host: Host) -> None:
    """Until the server lists the worker in the pool (it has polled once)."""

    def polled() -> bool:
        try:
            reply = httpx.post(f"{layout.api_url}/work_pools/{POOL}/workers/filter", timeout=5)
        except httpx.HTTPError:
            return False
        return reply.status_code == 200 and host.name in {w["name"] for w in reply.json()}

    _wait_for(f"process worker {host.name}", polled, host)


def start_receiver(env: Mapping[str, str], host: Host) -> tuple[Host, str]:
    """``python -m webhooks --dispatch task`` on a free port; the host and its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    host.proc = spawn(
        [sys.executable, "-m", "webhooks", "--port", str(port), "--dispatch", "task"],
        {**env, "PYTHONPATH": str(REPO)},
        host.log,
        cwd=host.home.parent,
    )

    def up() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code < 500
        except httpx.HTTPError:
            return False

    _wait_for("webhook receiver", up, host)
    return host, url


@contextlib.contextmanager
def multi_home_layout(
    root: Path,
    *,
    ledger_url: str | None = None,
    task_workers: int = 2,
    shared_env: Mapping[str, str] | None = None,
    deploy_args: tuple[str, ...] = (),
    server_env: Mapping[str, str] | None = None,
    batch_max: int | None = 1,
    process_workers: int = 0,
) -> Iterator[Layout]:
    """Prefect server, deploy step, receiver and ``task_workers`` task workers, each its own home.

    ``process_workers`` > 0: the deploy step creates every deployment too, and that many
    process workers (each its own home and directory) run them.

    ``shared_env`` goes to every bridge process (e.g. the S3 credentials and endpoint);
    ``server_env`` to the Prefect server only (e.g. its Postgres URL). ``batch_max=1``: one
    task run per webhook, to see them spread (``None``: the receiver's default batching).
    """
    root.mkdir(parents=True, exist_ok=True)
    server_home = root / "server" / "prefect"
    server_home.mkdir(parents=True)
    ledger_url = ledger_url or f"sqlite:///{root / 'shared' / 'ledger.db'}"
    (root / "shared").mkdir(exist_ok=True)
    from sandbox.ams.app import create_app as create_ams
    from sandbox.returnly.app import create_app as create_returnly

    with contextlib.ExitStack() as stack:
        api_url = stack.enter_context(local_prefect_server(server_home, env=server_env))
        returnly = ThreadedServer(create_returnly()).start()
        stack.callback(returnly.stop)
        ams = ThreadedServer(create_ams()).start()
        stack.callback(ams.stop)
        env = {
            **bridge_env(returnly.url, ams.url, root / "shared" / "ledger.db"),
            "BRIDGE_LEDGER_URL": ledger_url,
            **(shared_env or {}),
        }
        if batch_max is not None:
            env["BRIDGE_WEBHOOKS_BATCH_MAX"] = str(batch_max)
        deployer = _host(root, "deploy")
        deploy_output = run_deploy(
            {**env, **prefect_env(deployer.home, api_url)},
            deployer,
            *deploy_args,
            deployments=process_workers > 0,
        )
        layout = Layout(
            api_url=api_url,
            returnly_url=returnly.url,
            ams_url=ams.url,
            receiver_url="",
            ledger_url=ledger_url,
            env=env,
            deploy_output=deploy_output,
        )
        for n in range(process_workers):  # started first: they come up while the rest does
            host = _host(root, f"process-worker-{n + 1}")
            stack.callback(_stop, host)
            spawn_process_worker(layout, host)
        for n in range(task_workers):
            host = _host(root, f"task-worker-{n + 1}")
            stack.callback(_stop, host)
            start_task_worker(layout, host)
        receiver = _host(root, "receiver")
        stack.callback(_stop, receiver)
        layout.receiver, layout.receiver_url = start_receiver(layout.host_env(receiver), receiver)
        for host in layout.process_workers:
            wait_for_process_worker(layout, host)
        yield layout
