"""The ``redispatch-inbox`` task: hand stale inbox messages to Prefect again (the rules are
:mod:`webhooks.sweep`; the flow is :mod:`flows.sweep_inbox`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta

from prefect import task
from prefect.cache_policies import NONE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from ledger import Ledger
from runtime import get_ledger
from webhooks.dispatch import Dispatcher
from webhooks.settings import WebhookSettings, build_dispatcher
from webhooks.sweep import RunStates, SweepResult, redispatch_inbox


def flow_run_states(run_ids: Sequence[str]) -> Mapping[str, str]:
    """State type of each flow run the Prefect API knows (``COMPLETED``, ``CRASHED`` ...)."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[uuid.UUID(r) for r in run_ids])),
            limit=len(run_ids),
        )
    return {str(run.id): run.state_type.value for run in runs if run.state_type is not None}


def sweep_once(
    older_than_seconds: int,
    limit: int,
    *,
    ledger: Ledger | None = None,
    dispatcher: Dispatcher | None = None,
    run_states: RunStates | None = flow_run_states,
) -> SweepResult:
    """One sweep with the configured ledger and dispatcher (either can be injected)."""
    return redispatch_inbox(
        ledger or get_ledger(),
        dispatcher or build_dispatcher(WebhookSettings().dispatch),
        older_than=timedelta(seconds=older_than_seconds),
        limit=limit,
        run_states=run_states,
    )


@task(name="redispatch-inbox", tags=["webhooks", "ledger"], cache_policy=NONE)
def redispatch_stale(older_than_seconds: int, limit: int) -> SweepResult:
    """Hand stale inbox messages to Prefect again (see ``webhooks.sweep``)."""
    return sweep_once(older_than_seconds, limit)
