"""What every stage flow shares: run per merchant, isolate failures, tag the run per merchant,
publish a short artifact."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.context import FlowRunContext
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from clients.ams import MAX_RECORDS_PER_BATCH
from runtime import merchant_names
from stages.inbox import InboxRef
from stages.outcomes import StageSummary
from tasks.artifacts import artifact_key as shared_artifact_key
from tasks.lifecycle import claim_inbox, settle_inbox
from tasks.review_queue import after_stage

T = TypeVar("T")
BATCH_SIZE = MAX_RECORDS_PER_BATCH
"""Returns per batch task: AMS takes 30 records per write."""
MERCHANT_TAG_PREFIX = "merchant:"


def merchant_tag(merchant: str) -> str:
    """The run tag naming a merchant (``merchant:acme``): UI filters, automations."""
    return f"{MERCHANT_TAG_PREFIX}{merchant}"


def tag_run_with_merchants(merchants: Iterable[str]) -> list[str]:
    """Add ``merchant:<name>`` to the current flow run's tags; the tags now on the run.

    Whatever started the run (schedule, event trigger, ``run_deployment``, a direct call),
    its tags then say which merchants it worked for; ``all`` gets one tag per merchant.
    Outside a flow run it does nothing. Best effort: a tag is not worth failing a run for.
    """
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return []
    run = ctx.flow_run
    wanted = [merchant_tag(m) for m in merchants]
    try:
        if isinstance(ctx.client, SyncPrefectClient):
            tags = _add_tags(ctx.client, run.id, wanted)
        else:
            with get_client(sync_client=True) as client:
                tags = _add_tags(client, run.id, wanted)
    except Exception as exc:
        get_run_logger().warning("could not tag the run %s: %s", wanted, exc)
        return list(run.tags)
    run.tags = tags
    return tags


def _add_tags(client: SyncPrefectClient, run_id: Any, wanted: list[str]) -> list[str]:
    current = list(client.read_flow_run(run_id).tags)  # the server's: others may have added
    tags = list(dict.fromkeys([*current, *wanted]))
    if tags != current:
        client.update_flow_run(run_id, tags=tags).raise_for_status()
    return tags


@contextmanager
def settling_inbox(inbox: list[InboxRef] | None) -> Iterator[None]:
    """The inbox messages that started this run (event dispatch) are this run's to settle.

    Claimed first (the sweeper then asks this run's state instead of re-dispatching), marked
    processed when the block ends, failed when it raises (the error is re-raised).
    """
    if not inbox:
        yield
        return
    ctx = FlowRunContext.get()
    if ctx is not None and ctx.flow_run is not None:
        claim_inbox(inbox, str(ctx.flow_run.id))
    try:
        yield
    except Exception as exc:
        settle_inbox(inbox, error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    settle_inbox(inbox)


def artifact_key(stage: str, merchant: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return shared_artifact_key(stage, merchant)


def for_each_merchant(
    stage: str, selector: str, run_one: Callable[[str], StageSummary]
) -> StageSummary:
    """Run ``run_one`` per merchant; one merchant's failure never stops the others.

    Failures are collected, published and then raised, so the flow run still ends Failed.
    """
    logger = get_run_logger()
    total = StageSummary(stage=stage, merchant=selector)
    names = merchant_names(selector)
    tag_run_with_merchants(names)
    for name in names:
        try:
            summary = run_one(name)
        except Exception as exc:
            logger.exception("%s failed for merchant %s", stage, name)
            summary = StageSummary(
                stage=stage, merchant=name, failed_merchants={name: f"{type(exc).__name__}"}
            )
        logger.info("%s %s: %s", stage, name, summary.counts)
        total = total.merge(summary)
        after_stage(name)  # the review queue: held refunds' review runs, its artifacts
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
