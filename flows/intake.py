"""Intake flow: authorized Returnly returns become AMS RMAs (webhook ids, or a watermark poll)."""

from __future__ import annotations

from prefect import flow

from flows.batching import task_batches
from flows.common import for_each_merchant, opaque, settling_inbox, thread_runner
from stages.inbox import InboxRef
from stages.outcomes import ReturnOutcome, StageSummary
from tasks.lifecycle import advance_watermark, create_rmas, fetch_returns, poll_returns

CONCURRENCY = 4


def _intake_one(merchant: str, return_ids: list[str] | None, dry_run: bool) -> StageSummary:
    newest: str | None = None
    if return_ids:
        returns = fetch_returns(merchant, return_ids)
    else:
        returns, newest = poll_returns(merchant)
    futures = [
        # opaque(): Prefect would otherwise walk every field of every return per task.
        create_rmas.submit(merchant, opaque(batch), batch_no=n, dry_run=dry_run)
        for n, batch in enumerate(task_batches(returns, CONCURRENCY))
    ]
    outcomes: list[ReturnOutcome] = [o for f in futures for o in f.result()]
    if newest and not dry_run:
        advance_watermark(merchant, newest)
    return StageSummary.of("intake", merchant, outcomes)


@flow(
    name="intake",
    flow_run_name="intake-{merchant}",
    task_runner=thread_runner(CONCURRENCY),
)
def intake(
    merchant: str = "all",
    return_ids: list[str] | None = None,
    dry_run: bool = False,
    inbox: list[InboxRef] | None = None,
) -> StageSummary:
    """Create the AMS RMAs that authorized returns need.

    Args:
        merchant: A merchant name, a comma list, or ``all``.
        return_ids: Only these Returnly returns (re-read first); empty polls from the watermark.
        dry_run: Plan only: print what would be created or cancelled, change nothing.
        inbox: The inbox messages whose event started this run (set by the trigger): marked
            processed when it succeeds, failed when it fails.
    """
    with settling_inbox(inbox):
        return for_each_merchant(
            "intake", merchant, lambda name: _intake_one(name, return_ids, dry_run)
        )


if __name__ == "__main__":
    intake(merchant="all")
