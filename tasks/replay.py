"""The replay's own tasks: read one return's RMA and record it (the flow is
:mod:`flows.replay_return`)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NONE

from clients.ams import Rma
from runtime import ams_client, get_ledger, load_merchant
from stages.arrival import record_rmas, rma_for_return
from stages.outcomes import ReturnOutcome
from tasks.lifecycle import RETRIES, RETRY_DELAYS
from tasks.retry import retry_transient


@task(
    name="read-rma-for-return",
    tags=["ams", "arrival"],
    cache_policy=NONE,
    task_run_name="read-rma-{merchant}-{return_id}",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_transient,
)
def read_rma_for_return(merchant: str, return_id: str) -> Rma | None:
    """The return's RMA as AMS has it now (by AMS id when linked, else by identifier)."""
    return rma_for_return(
        merchant, return_id, ams=ams_client(load_merchant(merchant)), ledger=get_ledger()
    )


@task(name="record-rma", tags=["ledger", "arrival"], cache_policy=NONE)
def record_rma(merchant: str, rma: Rma) -> list[ReturnOutcome]:
    """Record the RMA's status in the ledger (flags what a person must see)."""
    return record_rmas(load_merchant(merchant), [rma], ledger=get_ledger())
