"""What every stage flow shares: run per merchant, isolate failures, publish a short artifact."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from tasks.outcomes import StageSummary
from tasks.runtime import merchant_names

T = TypeVar("T")
BATCH_SIZE = 30
"""Returns per batch task: AMS takes 30 records per write."""


def artifact_key(stage: str, merchant: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", f"{stage}-{merchant}".lower()).strip("-")


def for_each_merchant(
    stage: str, selector: str, run_one: Callable[[str], StageSummary]
) -> StageSummary:
    """Run ``run_one`` per merchant; one merchant's failure never stops the others.

    Failures are collected, published and then raised, so the flow run still ends Failed.
    """
    logger = get_run_logger()
    total = StageSummary(stage=stage, merchant=selector)
    for name in merchant_names(selector):
        try:
            summary = run_one(name)
        except Exception as exc:
            logger.exception("%s failed for merchant %s", stage, name)
            summary = StageSummary(
                stage=stage, merchant=name, failed_merchants={name: f"{type(exc).__name__}"}
            )
        logger.info("%s %s: %s", stage, name, summary.counts)
        total = total.merge(summary)
    create_markdown_artifact(
        key=artifact_key(stage, selector),
        markdown=total.markdown(),
        description=f"{stage} for {selector}: {total.counts}",
    )
    if total.failed_merchants:
        failed = ", ".join(sorted(total.failed_merchants))
        raise RuntimeError(f"{stage} failed for merchant(s): {failed}")
    return total


def chunks(items: list[T], size: int = BATCH_SIZE) -> list[list[T]]:
    """Split a list into batches."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def thread_runner(max_workers: int) -> TaskRunner[Any]:
    """A thread pool task runner (typed for the flow decorator)."""
    return cast(TaskRunner[Any], ThreadPoolTaskRunner(max_workers=max_workers))


def opaque(value: T) -> T:
    """Pass a large parameter without Prefect walking every field of it (``quote``)."""
    return cast(T, quote(value))
