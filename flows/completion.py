"""Completion flow: refund received returns in Returnly (restock off), exactly once."""

from __future__ import annotations

from prefect import flow

from flows.batching import task_batches
from flows.common import for_each_merchant, thread_runner
from stages.outcomes import StageSummary
from tasks.lifecycle import received_returns, refund_returns

CONCURRENCY = 2
"""Returnly's rate limits are unknown; contracts §A.8.7 suggests a concurrency of 2."""


def _completion_one(merchant: str, return_ids: list[str] | None, dry_run: bool) -> StageSummary:
    ids = return_ids or received_returns(merchant)
    futures = [
        refund_returns.submit(merchant, batch, batch_no=n, dry_run=dry_run)
        for n, batch in enumerate(task_batches(ids, CONCURRENCY))
    ]
    return StageSummary.of("completion", merchant, [o for f in futures for o in f.result()])


@flow(
    name="completion",
    flow_run_name="completion-{merchant}",
    task_runner=thread_runner(CONCURRENCY),
)
def completion(
    merchant: str = "all", return_ids: list[str] | None = None, dry_run: bool = False
) -> StageSummary:
    """Refund what AMS received, per the merchant's policy; never refunds a return twice.

    Args:
        merchant: A merchant name, a comma list, or ``all``.
        return_ids: Only these returns; empty means every return whose RMA is received.
        dry_run: Plan only: show the refunds, post nothing.
    """
    return for_each_merchant(
        "completion", merchant, lambda name: _completion_one(name, return_ids, dry_run)
    )


if __name__ == "__main__":
    completion(merchant="all")
