"""Close exceptions in the review queue with a note (``review-resolve``)."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.common import tag_run_with_merchants
from tasks.review_queue import ResolveResult, resolve_exceptions


@flow(name="review-resolve", flow_run_name="review-resolve-{merchant}")
def review_resolve(
    merchant: str,
    reviewer: str,
    note: str,
    exception_ids: list[int] | None = None,
    reason: str | None = None,
) -> ResolveResult:
    """Resolve open exceptions: the ids given, or every open one with ``reason``.

    A held refund resolved here is closed without a refund (its review run is cancelled);
    approve or reject it instead when the bridge should act on it.

    Args:
        merchant: The merchant's name.
        reviewer: Who resolves (recorded in the ledger with the time).
        note: What was done about it; kept in the ledger.
        exception_ids: The exceptions to resolve.
        reason: Instead of ids: every open exception with this reason (e.g. ``missing_sku``).
    """
    tag_run_with_merchants([merchant])
    result = resolve_exceptions(
        merchant, reviewer, note, exception_ids=exception_ids or [], reason=reason
    )
    get_run_logger().info("resolved %s", result.resolved)
    return result
