"""Backfill: run intake over every return updated in a window (an operator's catch-up tool).

For a merchant onboarded late, a webhook outage longer than the poll's reach, or a bug fixed
after the fact. The intake poll's watermark is not moved: the window is read on its own.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger, tags
from prefect.futures import as_completed

from flows.common import chunks, for_each_merchant, merchant_tag, opaque, thread_runner
from flows.progress import RunProgress, progress_key
from stages.outcomes import ReturnOutcome, StageSummary
from tasks.backfill import list_returns_window
from tasks.lifecycle import create_rmas

CONCURRENCY = 4


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _backfill_one(
    merchant: str, since: datetime, until: datetime, dry_run: bool, progress: RunProgress
) -> StageSummary:
    with tags(merchant_tag(merchant)):
        returns = list_returns_window(merchant, since, until)
        get_run_logger().info("%s: %d returns updated in the window", merchant, len(returns))
        batches = chunks(returns)
        progress.grow(len(batches))
        futures = [
            create_rmas.submit(merchant, opaque(batch), batch_no=n, dry_run=dry_run)
            for n, batch in enumerate(batches)
        ]
        for _ in as_completed(futures):
            progress.advance(description=f"backfill {merchant}: batches of 30 returns")
        outcomes: list[ReturnOutcome] = [o for f in futures for o in f.result()]
    return StageSummary.of("backfill", merchant, outcomes)


@flow(
    name="backfill",
    flow_run_name="backfill-{merchant}",
    task_runner=thread_runner(CONCURRENCY),
)
def backfill(
    merchant: str, since: datetime, until: datetime | None = None, dry_run: bool = False
) -> StageSummary:
    """Create the RMAs missing for returns updated in a window (cancellations included).

    Args:
        merchant: A merchant name, a comma list, or ``all``.
        since: Start of the window (inclusive); a time without zone is UTC.
        until: End of the window (exclusive); empty means now.
        dry_run: Plan only: list what would be created or cancelled, change nothing.
    """
    start, end = _utc(since), _utc(until or datetime.now(UTC))
    if start >= end:
        raise ValueError(f"empty window: since {start.isoformat()} is not before {end.isoformat()}")
    progress = RunProgress("backfill", key=progress_key("backfill-progress", merchant)).start()
    try:
        return for_each_merchant(
            "backfill", merchant, lambda name: _backfill_one(name, start, end, dry_run, progress)
        )
    finally:
        progress.finish()
