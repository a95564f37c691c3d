"""Prefect tasks of the three stages: thin, named, retried wrappers over the steps (untagged).

Tasks take small references (merchant name, ids) and resolve clients and the ledger inside,
so secrets never travel as parameters. Each batch task returns per-return outcomes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import task
from prefect.cache_policies import NONE

from clients.ams import Rma
from clients.returnly import Return
from runtime import ams_client, get_ledger, load_merchant, returns_platform
from stages import names
from stages.arrival import fetch_open_rmas, record_rmas
from stages.completion import complete_return, complete_returns, in_reread_order
from stages.inbox import (
    InboxRef,
    process_inbox_batch,
    process_inbox_message,
    settle_inbox_messages,
)
from stages.intake import intake_returns
from stages.outcomes import ReturnOutcome
from tasks.retry import retry_transient
from tasks.review_queue import after_stage

INTAKE_WATERMARK = "intake.returns.updated_at"
POLL_OVERLAP = timedelta(minutes=10)
"""Re-read this much before the watermark: clocks skew and pages shift while we read."""
INTAKE_POLL_STATUSES = frozenset(
    {"authorized", "in_transit", "delivered", "canceled_by_merchant", "cancelled"}
)
RETRIES = 2
# No task here carries a tag. A tagged task run first asks the Prefect server for the tags'
# concurrency slots; Prefect remembers "no such limit" for only 5 s, and in the 5,000-return
# bench each refill stalled the four runs starting together for 2.0-2.8 s (29.5 s of 34
# acquisitions, bench/README.md). The systems are throttled by the per-merchant rate limits
# of runtime/rate_gate.py, not by tag limits; task run names say what each run does.
RETRY_DELAYS: list[float] = [1.0, 5.0]


@task(
    name="poll-returns",
    cache_policy=NONE,
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_transient,
)
def poll_returns(merchant: str) -> tuple[list[Return], str | None]:
    """Returns changed since the watermark (minus the overlap), and the new watermark value."""
    ledger = get_ledger()
    mark = ledger.get_watermark(merchant, INTAKE_WATERMARK)
    since = (mark - POLL_OVERLAP) if mark else datetime.now(UTC) - timedelta(days=90)
    platform = returns_platform(load_merchant(merchant))
    returns = platform.changed_returns(updated_since=since, statuses=set(INTAKE_POLL_STATUSES))
    newest = max((r.updated_at for r in returns if r.updated_at), default=None)
    return returns, newest.isoformat() if newest else None


@task(name="advance-watermark", cache_policy=NONE)
def advance_watermark(merchant: str, value: str) -> str:
    """Move the intake watermark forward (never back)."""
    moved = get_ledger().advance_watermark(
        merchant, INTAKE_WATERMARK, datetime.fromisoformat(value)
    )
    return moved.isoformat()


@task(
    name="fetch-returns",
    cache_policy=NONE,
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_transient,
)
def fetch_returns(merchant: str, return_ids: list[str]) -> list[Return]:
    """Re-read named returns through the API (webhooks are only hints)."""
    platform = returns_platform(load_merchant(merchant))
    return [platform.read_return(rid) for rid in return_ids]


@task(
    name="create-rmas",
    cache_policy=NONE,
    task_run_name="create-rmas-{merchant}-{batch_no}",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_transient,
)
def create_rmas(
    merchant: str,
    returns: list[Return],
    batch_no: int = 0,  # noqa: ARG001 (names the task run)
    dry_run: bool = False,
) -> list[ReturnOutcome]:
    """Create the RMAs a batch of returns needs (one AMS POST); duplicates count as done."""
    config = load_merchant(merchant)
    return intake_returns(
        config, returns, ledger=get_ledger(), ams=ams_client(config), dry_run=dry_run
    )


@task(
    name="poll-open-rmas",
    cache_policy=NONE,
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_transient,
)
def poll_open_rmas(merchant: str) -> tuple[list[ReturnOutcome], list[Rma]]:
    """Read every watched RMA from AMS (by id, 30 per call) and record what changed.

    Also answers the RMAs just read, so completion need not read them again.
    """
    config = load_merchant(merchant)
    ledger = get_ledger()
    rmas, missing = fetch_open_rmas(config, ledger=ledger, ams=ams_client(config))
    for cid in missing:
        ledger.open_exception(
            merchant,
            "rma_missing_in_ams",
            f"the ledger links {cid} but AMS has no such RMA",
            {"customer_identifier": cid},
            stage="arrival",
            source="bridge",
            subject=cid,
        )
    return record_rmas(config, rmas, ledger=ledger), rmas


@task(
    name="refund-return",
    cache_policy=NONE,
    task_run_name="refund-{merchant}-{return_id}",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_transient,
)
def refund_return(merchant: str, return_id: str, dry_run: bool = False) -> ReturnOutcome:
    """Refund one received return (re-reads both sides first; never twice)."""
    config = load_merchant(merchant)
    return complete_return(
        config,
        return_id,
        ledger=get_ledger(),
        returnly=returns_platform(config),
        ams=ams_client(config),
        dry_run=dry_run,
    )


@task(
    name="refund-returns",
    cache_policy=NONE,
    task_run_name="refund-{merchant}-batch-{batch_no}",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_transient,
)
def refund_returns(
    merchant: str,
    return_ids: list[str],
    batch_no: int = 0,  # noqa: ARG001 (names the task run)
    rmas: list[Rma] | None = None,
    dry_run: bool = False,
) -> list[ReturnOutcome]:
    """Refund a batch of received returns; per-return outcomes (a retry redoes only the rest)."""
    config = load_merchant(merchant)
    return complete_returns(
        config,
        return_ids,
        ledger=get_ledger(),
        returnly=returns_platform(config),
        ams=ams_client(config),
        dry_run=dry_run,
        rmas=rmas or [],
    )


@task(name="received-returns", cache_policy=NONE)
def received_returns(merchant: str, also: list[str] | None = None) -> list[str]:
    """``also`` and every return whose RMA is received and not yet refunded or held, in the
    order completion's listed re-reads want them (:func:`stages.completion.in_reread_order`)."""
    ledger = get_ledger()
    waiting = ledger.links_in_stage(merchant, {names.RECEIVED})
    return in_reread_order(ledger, merchant, also or [], waiting)


@task(
    name="handle-inbox-message",
    cache_policy=NONE,
    task_run_name="inbox-{source}-{message_id}",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_transient,
)
def handle_inbox_message(merchant: str, source: str, message_id: str) -> list[ReturnOutcome]:
    """Background task fed by the webhook receiver (``.delay()``): run the hinted stage."""
    config = load_merchant(merchant)
    outcomes = process_inbox_message(
        config,
        source,
        message_id,
        ledger=get_ledger(),
        returnly=returns_platform(config),
        ams=ams_client(config),
    )
    after_stage(merchant)
    return outcomes


@task(
    name="handle-inbox-batch",
    cache_policy=NONE,
    task_run_name="inbox-{source}-batch",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_transient,
)
def handle_inbox_batch(merchant: str, source: str, message_ids: list[str]) -> list[ReturnOutcome]:
    """Background task for a burst: the receiver's batch of messages, handled together."""
    config = load_merchant(merchant)
    outcomes = process_inbox_batch(
        config,
        source,
        message_ids,
        ledger=get_ledger(),
        returnly=returns_platform(config),
        ams=ams_client(config),
    )
    after_stage(merchant)
    return outcomes


@task(name="claim-inbox", cache_policy=NONE)
def claim_inbox(inbox: list[InboxRef], run_id: str) -> list[str]:
    """Note this flow run on the inbox messages that started it (the sweeper asks its state)."""
    ledger = get_ledger()
    rows = [ledger.claim_inbox(ref.source, ref.message_id, run_id) for ref in inbox]
    return [f"{r.source}/{r.message_id}" for r in rows if r is not None]


@task(name="settle-inbox", cache_policy=NONE)
def settle_inbox(inbox: list[InboxRef], error: str | None = None) -> list[str]:
    """Mark the run's inbox messages processed, or failed with ``error``."""
    return settle_inbox_messages(get_ledger(), inbox, error)
