"""A merchant of its own: its runs on its own work queue, so dedicated workers run them.

``bridge deploy --merchant-queue acme`` creates the work queue ``merchant-acme`` in the pool
and, for every deployment that covers all merchants (``merchant: all``: the polls, the
completion, the reconciliations, the review sweep, the onboarding check), a copy
``<deployment>-acme`` on that queue with ``merchant: acme``, its schedules and concurrency
limit, tagged ``merchant:acme``; the shared deployment's selector becomes ``all,-acme``
(:func:`runtime.merchant_names`), so acme is polled once, by the copy. A worker started with
``prefect worker start --pool bridge-pool --work-queue merchant-acme`` (on any host) then runs
acme's scheduled and ad-hoc runs and nothing else; a worker given only ``--work-queue default``
never sees them. Deployments without a merchant parameter (sweep-inbox, replay, backfill,
the review decisions) and the event-triggered ones stay shared: their runs name the merchant
in their parameters or come from events, not from a schedule per merchant.

Idempotent: a redeploy (``prefect deploy --all`` resets the shared selectors to ``all``)
dedicates the same merchants again; the copies are upserts by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from runtime import ALL_MERCHANTS

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.responses import DeploymentResponse

QUEUE_PREFIX = "merchant-"


def queue_name(merchant: str) -> str:
    """The work queue of a dedicated merchant."""
    return f"{QUEUE_PREFIX}{merchant}"


def shared_selector(dedicated: Iterable[str]) -> str:
    """The shared deployments' ``merchant`` parameter: everyone but the dedicated merchants."""
    return ",".join([ALL_MERCHANTS, *(f"-{m}" for m in sorted(set(dedicated)))])


def covers_all(parameters: dict[str, Any]) -> bool:
    """True when a deployment's ``merchant`` parameter selects every merchant (``all...``)."""
    selector = parameters.get("merchant")
    return isinstance(selector, str) and selector.split(",")[0].strip() == ALL_MERCHANTS


def ensure_merchant_queues(pool: str, merchants: Sequence[str]) -> dict[str, str]:
    """Create each merchant's work queue in ``pool`` unless it exists; queue -> what happened."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    done: dict[str, str] = {}
    with get_client(sync_client=True) as client:
        for merchant in merchants:
            name = queue_name(merchant)
            try:
                client.read_work_queue_by_name(name, work_pool_name=pool)
                done[name] = "exists"
                continue
            except ObjectNotFound:
                pass
            try:
                client.create_work_queue(
                    name, description=f"runs of merchant {merchant}", work_pool_name=pool
                )
                done[name] = "created"
            except ObjectAlreadyExists:  # another deploy created it meanwhile
                done[name] = "exists"
    return done


def dedicate(pool: str, merchants: Sequence[str]) -> list[str]:
    """Copy every all-merchant deployment of ``pool`` per merchant onto its queue.

    Returns the copies' names (``flow/deployment-merchant``). The shared deployments are left
    selecting everyone but ``merchants``.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentUpdate
    from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName

    if not merchants:
        return []
    made: list[str] = []
    with get_client(sync_client=True) as client:
        flows = {f.id: f.name for f in client.read_flows()}
        deployments = client.read_deployments(
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool]))
        )
        suffixes = tuple(f"-{m}" for m in merchants)
        shared = [
            d
            for d in deployments
            if covers_all(d.parameters) and not d.name.endswith(suffixes)
            # a copy carries one merchant's name, never "all"
        ]
        for dep in shared:
            for merchant in merchants:
                _copy_for(client, dep, merchant, pool)
                made.append(f"{flows.get(dep.flow_id, '?')}/{dep.name}-{merchant}")
            parameters = {**dep.parameters, "merchant": shared_selector(merchants)}
            client.update_deployment(dep.id, DeploymentUpdate(parameters=parameters))
    return made


def _copy_for(client: SyncPrefectClient, dep: DeploymentResponse, merchant: str, pool: str) -> None:
    """Upsert ``<dep>-<merchant>`` on the merchant's queue: same flow, schedules and limits."""
    from prefect.client.schemas.actions import DeploymentScheduleCreate

    schedules = [
        DeploymentScheduleCreate(
            schedule=s.schedule,
            active=s.active,
            max_scheduled_runs=s.max_scheduled_runs,
            parameters={**s.parameters, "merchant": merchant} if s.parameters else {},
        )
        for s in dep.schedules
    ]
    limit = dep.global_concurrency_limit.limit if dep.global_concurrency_limit else None
    tag = f"merchant:{merchant}"
    client.create_deployment(
        flow_id=dep.flow_id,
        name=f"{dep.name}-{merchant}",
        version=dep.version,
        schedules=schedules,
        concurrency_limit=limit if limit is not None else dep.concurrency_limit,
        concurrency_options=dep.concurrency_options,
        parameters={**dep.parameters, "merchant": merchant},
        description=f"{dep.description or dep.name} (merchant {merchant} only)",
        work_queue_name=queue_name(merchant),
        work_pool_name=pool,
        tags=[*dep.tags, tag] if tag not in dep.tags else list(dep.tags),
        path=dep.path,
        entrypoint=dep.entrypoint,
        parameter_openapi_schema=dep.parameter_openapi_schema,
        paused=dep.paused,
        pull_steps=dep.pull_steps,
        enforce_parameter_schema=dep.enforce_parameter_schema,
        job_variables=dep.job_variables,
    )
