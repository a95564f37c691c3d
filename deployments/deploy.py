"""The deploy step: work pool, rate limits, block type, alert automation, then every
deployment in prefect.yaml.

``bridge deploy`` or ``python -m deployments.deploy`` from the project directory, with
``PREFECT_API_URL`` pointing at the server. It also registers the shared task storage
(:mod:`deployments.task_storage`). Every step is idempotent, so deploying again after a change
is the same command. Rate limits are Prefect global concurrency limits with slot
decay, one per merchant and system (``ams-<merchant>``, ``returnly-<merchant>``); the clients
built by :mod:`runtime` take one slot per request. The automation is
:mod:`deployments.alerts` (failed runs notify ``--alert-block``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deployments.merchant_queues import dedicate, ensure_merchant_queues
from deployments.task_storage import ensure_task_storage
from runtime import merchant_names, rate_limit_name
from runtime.rate_gate import AMS_REQUESTS_PER_HOUR, RETURNLY_REQUESTS_PER_HOUR
from runtime.task_storage import ENDPOINT_ENV, STORAGE_ENV

MERCHANT_QUEUES_ENV = "BRIDGE_MERCHANT_QUEUES"

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_POOL = "bridge-pool"
DEPLOY_TIMEOUT_S = 600.0
BURST = 10
"""Requests allowed back to back before the decay rate applies."""
ALERT_BLOCK_ENV = "BRIDGE_ALERT_BLOCK"
_DEPLOYED = re.compile(r"Deployment '([^']+)' successfully created")


@dataclass(frozen=True)
class RateLimits:
    """Requests per hour per merchant account, and the burst allowed on top."""

    ams_per_hour: float = AMS_REQUESTS_PER_HOUR
    returnly_per_hour: float = RETURNLY_REQUESTS_PER_HOUR
    burst: int = BURST

    def for_merchant(self, merchant: str) -> dict[str, tuple[int, float]]:
        """Limit name -> (burst slots, slot decay per second)."""

        return {
            rate_limit_name("ams", merchant): (self.burst, self.ams_per_hour / 3600.0),
            rate_limit_name("returnly", merchant): (self.burst, self.returnly_per_hour / 3600.0),
        }


@dataclass
class DeployReport:
    """What the deploy step did, for the CLI to print."""

    work_pool: str = DEFAULT_POOL
    pool_created: bool = False
    limits: dict[str, str] = field(default_factory=dict)
    alert: str = ""
    task_storage: str = ""
    queues: dict[str, str] = field(default_factory=dict)
    dedicated: list[str] = field(default_factory=list)
    deployments: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)
    deploy_s: float = 0.0

    def lines(self) -> list[str]:
        """Human-readable summary."""
        out = [f"work pool {self.work_pool}: {'created' if self.pool_created else 'exists'}"]
        out += [f"rate limit {name}: {what}" for name, what in sorted(self.limits.items())]
        out.append("block type merchant-config: registered")
        if self.task_storage:
            out.append(self.task_storage)
        if self.alert:
            out.append(self.alert)
        out += [f"work queue {name}: {what}" for name, what in sorted(self.queues.items())]
        out += [f"deployment {name}" for name in self.deployments]
        out += [f"deployment {name} (own queue)" for name in self.dedicated]
        out += [f"schedules paused: {name}" for name in self.paused]
        if self.deployments:
            out.append(f"{len(self.deployments)} deployments in {self.deploy_s:.1f}s")
        return out


def pool_from_yaml(prefect_yaml: Path) -> str:
    """The shared work pool's name, as prefect.yaml declares it (one source of truth)."""
    spec: dict[str, Any] = yaml.safe_load(prefect_yaml.read_text(encoding="utf-8"))
    pools = (spec.get("definitions") or {}).get("work_pools") or {}
    names = {p["name"] for p in pools.values() if isinstance(p, dict) and "name" in p}
    if len(names) != 1:
        raise ValueError(f"{prefect_yaml}: expected one work pool definition, found {names}")
    return str(names.pop())


def ensure_work_pool(name: str) -> bool:
    """Create the ``process`` work pool unless it exists; True when created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return False
        except ObjectNotFound:
            pass
        template = ProcessWorker.get_default_base_job_template()
        client.create_work_pool(
            WorkPoolCreate(name=name, type="process", base_job_template=template)
        )
    return True


def ensure_rate_limits(merchants: Iterable[str], limits: RateLimits) -> dict[str, str]:
    """Create or update the per-merchant, per-system rate limits; name -> what happened."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    done: dict[str, str] = {}
    with get_client(sync_client=True) as client:
        for merchant in merchants:
            for name, (burst, decay) in limits.for_merchant(merchant).items():
                try:
                    old = client.read_global_concurrency_limit_by_name(name)
                except ObjectNotFound:
                    old = None
                client.upsert_global_concurrency_limit_by_name(name, burst, round(decay, 6))
                same = old is not None and (old.limit, old.slot_decay_per_second) == (
                    burst,
                    round(decay, 6),
                )
                verb = "unchanged" if same else ("updated" if old else "created")
                done[name] = f"{verb} ({burst} burst, {decay * 3600:.0f}/hour)"
    return done


def register_block_types() -> None:
    """Register the merchant block type so the UI offers a form for it."""
    from runtime.blocks import MerchantBlock  # imports Prefect (~1.2 s); only the deploy step

    MerchantBlock.register_type_and_schema()


def run_prefect_deploy(
    project_dir: Path, api_url: str, extra_env: dict[str, str] | None = None
) -> list[str]:
    """``prefect --no-prompt deploy --all`` in ``project_dir``; the deployment names created."""
    env = {**os.environ, **(extra_env or {}), "PREFECT_API_URL": api_url}
    prefect = str(Path(sys.executable).parent / "prefect")
    proc = subprocess.run(
        [prefect, "--no-prompt", "deploy", "--all"],
        cwd=project_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEPLOY_TIMEOUT_S,
        check=False,
    )
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"prefect deploy failed ({proc.returncode}):\n{output[-4000:]}")
    return _DEPLOYED.findall(output)


def pause_schedules(names: Sequence[str] | None = None) -> list[str]:
    """Deactivate every schedule (of ``names``, or of all deployments) and drop runs they made.

    For staging servers and tests: deployments stay runnable by hand, CLI and events.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    paused: list[str] = []
    with get_client(sync_client=True) as client:
        deployments = client.read_deployments()
        flows = {f.id: f.name for f in client.read_flows()}
        for dep in deployments:
            full = f"{flows.get(dep.flow_id, '?')}/{dep.name}"
            if (names and full not in names) or not dep.schedules:
                continue
            for sched in dep.schedules:
                client.update_deployment_schedule(dep.id, sched.id, active=False)
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    )
                ),
            )
            for run in runs:
                client.delete_flow_run(run.id)
            paused.append(full)
    return paused


def deploy(
    project_dir: Path = PROJECT_DIR,
    *,
    merchants: Sequence[str] | None = None,
    limits: RateLimits | None = None,
    skip_deploy: bool = False,
    paused: bool = False,
    alert_block: str | None = None,
    task_storage: str | None = None,
    task_storage_endpoint: str | None = None,
    merchant_queues: Sequence[str] = (),
) -> DeployReport:
    """The whole deploy step against the configured Prefect API.

    ``alert_block`` (``<block-type-slug>/<name>``) is the notification block failed runs
    alert (see :mod:`deployments.alerts`). ``task_storage`` is where background tasks keep
    their parameters and results, reachable from every host (see
    :mod:`runtime.task_storage`; default: this host's Prefect storage directory).
    ``merchant_queues`` get a work queue and copies of the all-merchant deployments of their
    own (:mod:`deployments.merchant_queues`).
    """
    from prefect.settings import get_current_settings

    api_url = get_current_settings().api.url
    if not api_url:
        raise RuntimeError("PREFECT_API_URL is not set: point it at the Prefect server first")
    if merchants is None:
        merchants = merchant_names("all")
    report = DeployReport(work_pool=pool_from_yaml(project_dir / "prefect.yaml"))
    report.pool_created = ensure_work_pool(report.work_pool)
    report.limits = ensure_rate_limits(merchants, limits or RateLimits())
    register_block_types()
    report.task_storage = ensure_task_storage(task_storage, task_storage_endpoint)
    from deployments.alerts import ensure_alert_automation  # imports Prefect (~1.6 s)

    report.alert = ensure_alert_automation(alert_block).line()
    if not skip_deploy:
        started = time.monotonic()
        report.deployments = run_prefect_deploy(project_dir, str(api_url))
        report.deploy_s = time.monotonic() - started
    if merchant_queues:
        report.queues = ensure_merchant_queues(report.work_pool, merchant_queues)
        report.dedicated = dedicate(report.work_pool, merchant_queues)
    if not skip_deploy and paused:
        report.paused = pause_schedules([*report.deployments, *report.dedicated])
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry (``python -m deployments.deploy``)."""
    parser = argparse.ArgumentParser(prog="python -m deployments.deploy", description=__doc__)
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    parser.add_argument("--merchant", action="append", help="merchants (default: all known)")
    parser.add_argument("--ams-per-hour", type=float, default=AMS_REQUESTS_PER_HOUR)
    parser.add_argument("--returnly-per-hour", type=float, default=RETURNLY_REQUESTS_PER_HOUR)
    parser.add_argument("--burst", type=int, default=BURST)
    parser.add_argument("--skip-deploy", action="store_true", help="no prefect deploy")
    parser.add_argument("--paused", action="store_true", help="deactivate every schedule")
    parser.add_argument(
        "--alert-block",
        default=os.environ.get(ALERT_BLOCK_ENV) or None,
        help="notification block failed runs alert, <block-type-slug>/<name> "
        f"(e.g. slack-webhook/ops; default ${ALERT_BLOCK_ENV})",
    )
    parser.add_argument(
        "--task-storage",
        default=os.environ.get(STORAGE_ENV) or None,
        help="where background tasks keep parameters and results, reachable from every host: "
        f"s3://bucket/prefix or a directory (default ${STORAGE_ENV}, else the existing block, "
        "else this host's Prefect storage directory)",
    )
    parser.add_argument(
        "--task-storage-endpoint",
        default=os.environ.get(ENDPOINT_ENV) or None,
        help=f"S3-compatible endpoint URL for --task-storage (default ${ENDPOINT_ENV})",
    )
    parser.add_argument(
        "--merchant-queue",
        action="append",
        default=[m for m in os.environ.get(MERCHANT_QUEUES_ENV, "").split(",") if m.strip()],
        help="give this merchant its own work queue merchant-<name> and deployments "
        f"(repeatable; default ${MERCHANT_QUEUES_ENV}, a comma list)",
    )
    args = parser.parse_args(argv)
    report = deploy(
        args.project_dir,
        merchants=args.merchant,
        limits=RateLimits(args.ams_per_hour, args.returnly_per_hour, args.burst),
        skip_deploy=args.skip_deploy,
        paused=args.paused,
        alert_block=args.alert_block,
        task_storage=args.task_storage,
        task_storage_endpoint=args.task_storage_endpoint,
        merchant_queues=[m.strip() for m in args.merchant_queue],
    )
    print("\n".join(report.lines()), flush=True)  # noqa: T201 (command output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
