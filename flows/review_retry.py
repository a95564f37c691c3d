"""Re-run the stage an exception needs, for one return or every exception of a reason.

Each return is replayed (intake, arrival, completion as needed; every step idempotent, no
refund twice). An exception the replay did not raise again, whose return moved past the
stage that raised it, is resolved (``by: review-retry``); the others stay open.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, tags
from pydantic import BaseModel, Field

from flows.common import merchant_tag, tag_run_with_merchants
from flows.replay_return import _replay
from runtime import get_ledger, load_merchant
from stages.review import retry_settled
from tasks.artifacts import prefect_available
from tasks.review_queue import publish_review_queue, select_exceptions

RETRY_BY = "review-retry"


class RetryResult(BaseModel):
    """Per exception: ``resolved``, ``still open`` or why it was not retried."""

    merchant: str
    results: dict[int, str] = Field(default_factory=dict)


@flow(name="review-retry", flow_run_name="review-retry-{merchant}")
def review_retry(
    merchant: str,
    exception_ids: list[int] | None = None,
    reason: str | None = None,
    dry_run: bool = False,
) -> RetryResult:
    """Retry the stage open exceptions need: the ids given, or every one with ``reason``.

    Args:
        merchant: The merchant's name.
        exception_ids: The exceptions to retry.
        reason: Instead of ids: every open exception with this reason (e.g. ``missing_sku``).
        dry_run: Plan only: show what each stage would do, change nothing.
    """
    logger = get_run_logger()
    load_merchant(merchant)
    tag_run_with_merchants([merchant])
    ledger = get_ledger()
    result = RetryResult(merchant=merchant)
    by_return: dict[str, list[int]] = {}
    for exc in select_exceptions(merchant, exception_ids or [], reason):
        if exc.return_id is None:
            result.results[exc.id] = "not retried: it names no return"
        else:
            by_return.setdefault(exc.return_id, []).append(exc.id)
    with tags(merchant_tag(merchant)):
        for return_id, ids in by_return.items():
            before = {i: ledger.get_exception(i) for i in ids}
            outcomes = _replay(merchant, return_id, dry_run)
            logger.info("retry of %s: %s", return_id, [o.outcome for o in outcomes])
            link = ledger.get_link(merchant, return_id=return_id)
            for i, old in before.items():
                now = ledger.get_exception(i)
                if dry_run or old is None or now is None:
                    result.results[i] = "dry run: " + ", ".join(o.outcome for o in outcomes)
                    continue
                seen_again = now.last_seen_at != old.last_seen_at or now.status != "open"
                stage = link.stage if link else None
                if retry_settled(now.stage, stage, seen_again):
                    ledger.resolve_exception(i, note=f"retry: return now {stage}", by=RETRY_BY)
                    result.results[i] = "resolved"
                else:
                    result.results[i] = "still open"
    if prefect_available() and not dry_run:
        publish_review_queue(merchant, force=True)
    return result
