"""Arrival flow: poll open RMAs in AMS (by id, 30 per call), record progress, refund receipts."""

from __future__ import annotations

from prefect import flow

from core.mapping import customer_identifier_for
from flows.batching import task_batches
from flows.common import for_each_merchant, opaque, settling_inbox, thread_runner
from stages.arrival import received_return_ids
from stages.inbox import InboxRef
from stages.outcomes import StageSummary
from tasks.lifecycle import poll_open_rmas, received_returns, refund_returns

CONCURRENCY = 4


def _arrival_one(merchant: str, dry_run: bool) -> StageSummary:
    outcomes, rmas = poll_open_rmas(merchant)
    # Also returns whose receipt was recorded earlier but whose refund never finished (the
    # run died, or a lost answer left the attempt in doubt): no one else would look again.
    # In the order of the platform's list, so each batch re-reads its returns in few pages.
    received = received_returns(merchant, also=received_return_ids(outcomes))
    by_cid = {r.customer_identifier: r for r in rmas}
    futures = [
        refund_returns.submit(
            merchant,
            batch,
            batch_no=n,
            # opaque(): Prefect would otherwise walk every field of every RMA per task.
            rmas=opaque([by_cid[c] for c in map(customer_identifier_for, batch) if c in by_cid]),
            dry_run=dry_run,
        )
        for n, batch in enumerate(task_batches(received, CONCURRENCY))
    ]
    refunds = [o for f in futures for o in f.result()]
    return StageSummary.of("arrival", merchant, outcomes + refunds)


@flow(
    name="arrival",
    flow_run_name="arrival-{merchant}",
    task_runner=thread_runner(CONCURRENCY),
)
def arrival(
    merchant: str = "all", dry_run: bool = False, inbox: list[InboxRef] | None = None
) -> StageSummary:
    """Poll AMS for every RMA still on its way; received ones go straight to completion,
    with every return left ``received`` by an earlier run that did not finish its refund.

    Args:
        merchant: A merchant name, a comma list, or ``all``.
        dry_run: Plan only: refunds are computed and shown, not posted.
        inbox: The inbox messages whose event started this run (set by the trigger): marked
            processed when it succeeds, failed when it fails.
    """
    with settling_inbox(inbox):
        return for_each_merchant("arrival", merchant, lambda name: _arrival_one(name, dry_run))


if __name__ == "__main__":
    arrival(merchant="all")
