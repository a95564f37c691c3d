"""Keep the review queue moving: start missing review runs, apply overdue defaults, publish."""

from __future__ import annotations

from prefect import flow, get_run_logger
from pydantic import BaseModel, Field

from flows.common import tag_run_with_merchants
from runtime import merchant_names
from tasks.review_queue import apply_overdue_defaults, publish_review_queue, start_held_reviews


class SweepResult(BaseModel):
    """Per merchant: review runs started and defaults applied."""

    started: dict[str, int] = Field(default_factory=dict)
    defaulted: dict[str, list[int]] = Field(default_factory=dict)


@flow(name="review-sweep", flow_run_name="review-sweep-{merchant}")
def review_sweep(merchant: str = "all") -> SweepResult:
    """Start the review run of every held refund without one, apply merchant defaults to
    held refunds past their deadline, and refresh every review artifact.

    Args:
        merchant: A merchant name, a comma list, or ``all``.
    """
    logger = get_run_logger()
    names = merchant_names(merchant)
    tag_run_with_merchants(names)
    result = SweepResult()
    for name in names:
        result.started[name] = len(start_held_reviews(name))
        result.defaulted[name] = [r.exception_id for r in apply_overdue_defaults(name)]
        publish_review_queue(name, force=True)
    logger.info("review sweep: %s", result.model_dump())
    return result
