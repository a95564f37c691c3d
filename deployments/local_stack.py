"""The whole bridge on one machine: Prefect server, sandboxes, webhook receiver, task worker,
and with ``deploy=True`` the operators' deploy step and a process worker.

Used by ``make demo``, the end-to-end test and the latency benchmark. Every server binds to
127.0.0.1 on a free port; everything started here is stopped on exit.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from core.settings import SANDBOX_ACCOUNT
from deployments.deploy import PROJECT_DIR
from deployments.prefect_server import local_prefect_server, prefect_env, spawn, stop_process
from runtime import reset_runtime
from sandbox.server import ThreadedServer
from webhooks.dispatch import CompositeDispatcher, Dispatcher


@dataclass
class LocalStack:
    """Addresses of everything running."""

    api_url: str
    returnly_url: str
    ams_url: str
    receiver_url: str
    workdir: Path
    merchant: str = SANDBOX_ACCOUNT
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    deploy_output: list[str] = field(default_factory=list)
    """What the deploy step printed (empty without ``deploy``)."""

    @property
    def ui_url(self) -> str:
        """The Prefect UI."""
        return self.api_url.removesuffix("/api")


def bridge_env(returnly_url: str, ams_url: str, ledger_path: Path) -> dict[str, str]:
    """Settings that point the default merchant at the sandboxes."""
    return {
        "BRIDGE_RETURNLY_BASE_URL": returnly_url,
        "BRIDGE_AMS_BASE_URL": ams_url,
        "BRIDGE_LEDGER_URL": f"sqlite:///{ledger_path}",
        "BRIDGE_REPORTS_DIR": str(ledger_path.parent / "reports"),
        # The DataFactory files good units under the requested status (qc) unless randomized.
        "BRIDGE_AMS_REFUND_STATUSES": '["available", "qc"]',
        "BRIDGE_PROJECT_DIR": str(PROJECT_DIR),  # the workers' pull step cds there
    }


@contextlib.contextmanager
def local_stack(
    workdir: Path,
    *,
    dispatch: str = "task",
    fresh_ledger: bool = True,
    deploy: bool = False,
    also_dispatch: Dispatcher | None = None,
) -> Iterator[LocalStack]:
    """Start everything, export the environment to this process, and tear it all down after.

    ``deploy``: run the deploy step (``python -m deployments.deploy``) and a ``process``
    worker, so deployments, schedules and triggers work. ``also_dispatch``: a second
    dispatcher the receiver calls after the one ``dispatch`` names.
    """
    started_at = datetime.now(UTC)
    workdir = workdir.resolve()  # deployment runs work in the project directory, not here
    workdir.mkdir(parents=True, exist_ok=True)
    ledger_path = workdir / "ledger.db"
    if fresh_ledger:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{ledger_path}{suffix}").unlink(missing_ok=True)
    home = workdir / "prefect"
    home.mkdir(exist_ok=True)
    with contextlib.ExitStack() as stack:
        api_url = stack.enter_context(local_prefect_server(home))
        os.environ.update(prefect_env(home, api_url))
        # Imported only now: Prefect reads its settings from the environment on import.
        from sandbox.ams.app import create_app as create_ams
        from sandbox.returnly.app import create_app as create_returnly
        from webhooks.app import create_app as create_receiver
        from webhooks.protocol import uvicorn_options
        from webhooks.settings import build_dispatcher

        returnly = ThreadedServer(create_returnly()).start()
        stack.callback(returnly.stop)
        ams = ThreadedServer(create_ams()).start()
        stack.callback(ams.stop)
        env = bridge_env(returnly.url, ams.url, ledger_path)
        os.environ.update(env)
        reset_runtime()
        child_env = {**prefect_env(home, api_url), **env, "BRIDGE_WEBHOOKS_DISPATCH": dispatch}
        deploy_output = _deploy(stack, workdir, child_env, started_at) if deploy else []
        dispatcher = build_dispatcher(dispatch)  # type: ignore[arg-type]
        if also_dispatch is not None:
            dispatcher = CompositeDispatcher([dispatcher, also_dispatch])
        receiver = ThreadedServer(
            create_receiver(dispatcher=dispatcher), **uvicorn_options()
        ).start()
        stack.callback(receiver.stop)
        worker = spawn(
            [sys.executable, "-m", "deployments.task_worker"],
            child_env,
            workdir / "task-worker.log",
        )
        stack.callback(stop_process, worker)
        yield LocalStack(
            api_url=api_url,
            returnly_url=returnly.url,
            ams_url=ams.url,
            receiver_url=receiver.url,
            workdir=workdir,
            started_at=started_at,
            deploy_output=deploy_output,
        )


def _deploy(
    stack: contextlib.ExitStack, workdir: Path, env: dict[str, str], started_at: datetime
) -> list[str]:
    """The deploy step, then a process worker (stopped with the stack); the step's output."""
    from deployments import local_deploy

    output = local_deploy.run_deploy_step(
        {**os.environ, **env}, workdir / "deploy.log", SANDBOX_ACCOUNT
    )
    settled = local_deploy.settle_stale_runs(started_at)
    if settled:
        output.append(f"{settled} run(s) left over by an earlier demo settled")
    log = workdir / "worker.log"
    worker = local_deploy.start_worker(env, log)
    stack.callback(stop_process, worker)
    local_deploy.wait_for_worker(worker, log, started_at)
    return output
