"""Sweep-inbox flow: re-dispatch webhook messages that Prefect never took or never finished.

Nothing is lost when the Prefect API is down or the receiver dies after its 2xx: the message
waits in the ledger inbox and this flow (scheduled every few minutes) hands it over again,
through the dispatcher chosen by ``BRIDGE_WEBHOOKS_DISPATCH`` (task worker by default).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
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


@flow(name="sweep-inbox", flow_run_name="sweep-inbox")
def sweep_inbox(older_than_seconds: int = 60, limit: int = 500) -> SweepResult:
    """Re-dispatch pending inbox messages, and emitted/failed ones left untouched too long.

    Args:
        older_than_seconds: Leave messages younger than this to the receiver and workers.
        limit: At most this many messages per run (oldest first).
    """
    result = redispatch_stale(older_than_seconds, limit)
    get_run_logger().info("sweep-inbox: %s", result.model_dump())
    create_markdown_artifact(
        key="sweep-inbox",
        markdown=(
            "# Inbox sweep\n\n| examined | dispatched | failed | skipped | settled | dead |\n"
            "|---|---|---|---|---|---|\n"
            f"| {result.examined} | {result.dispatched} | {result.failed} | {result.skipped} "
            f"| {result.settled} | {result.dead} |\n"
        ),
        description=f"re-dispatched {result.dispatched} of {result.examined}",
    )
    return result


if __name__ == "__main__":
    sweep_inbox(older_than_seconds=60, limit=500)
