"""The backfill's own task: list the returns updated in a window (the RMAs are created by
:func:`tasks.lifecycle.create_rmas`; the flow is :mod:`flows.backfill`)."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NONE

from clients.returnly import Return
from runtime import load_merchant, returns_platform
from tasks.lifecycle import INTAKE_POLL_STATUSES, RETRIES, RETRY_DELAYS
from tasks.retry import retry_transient


@task(
    name="list-returns-window",
    tags=["returnly"],
    cache_policy=NONE,
    task_run_name="list-returns-{merchant}",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_transient,
)
def list_returns_window(merchant: str, since: datetime, until: datetime) -> list[Return]:
    """Returns updated in [since, until) in a status intake acts on."""
    platform = returns_platform(load_merchant(merchant))
    return platform.changed_returns(
        updated_since=since, updated_before=until, statuses=set(INTAKE_POLL_STATUSES)
    )
