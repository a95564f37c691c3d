"""Arrival flow: poll open RMAs in AMS (by id, 30 per call), record progress, refund receipts."""

from __future__ import annotations

from prefect import flow

from flows.common import for_each_merchant, thread_runner
from tasks.arrival import received_return_ids
from tasks.lifecycle import poll_open_rmas, refund_return
from tasks.outcomes import StageSummary

CONCURRENCY = 4


def _arrival_one(merchant: str, dry_run: bool) -> StageSummary:
    outcomes = poll_open_rmas(merchant)
    received = received_return_ids(outcomes)
    refunds = [refund_return.submit(merchant, rid, dry_run=dry_run) for rid in received]
    return StageSummary.of("arrival", merchant, outcomes + [f.result() for f in refunds])


@flow(
    name="arrival",
    flow_run_name="arrival-{merchant}",
    task_runner=thread_runner(CONCURRENCY),
)
def arrival(merchant: str = "all", dry_run: bool = False) -> StageSummary:
    """Poll AMS for every RMA still on its way; received ones go straight to completion.

    Args:
        merchant: A merchant name, a comma list, or ``all``.
        dry_run: Plan only: refunds are computed and shown, not posted.
    """
    return for_each_merchant("arrival", merchant, lambda name: _arrival_one(name, dry_run))


if __name__ == "__main__":
    arrival(merchant="all")
