"""Replay one return: drive it through whatever stages it still needs (an operator's button).

Intake first (the return is re-read; its RMA is created unless AMS already has it, or deleted
when the return was cancelled), then arrival for that one RMA (read from AMS, status recorded),
then completion when AMS says received. Every step is idempotent: replaying a finished return
changes nothing, and a refund is never issued twice.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, tags
from prefect.artifacts import create_markdown_artifact

from clients.ams.statuses import RECEIVED, is_ams_status
from flows.common import artifact_key, merchant_tag, opaque, tag_run_with_merchants
from runtime import get_ledger, load_merchant
from stages.outcomes import ReturnOutcome, StageSummary
from tasks.lifecycle import create_rmas, fetch_returns, refund_return
from tasks.replay import read_rma_for_return, record_rma

STOP_AFTER_INTAKE = frozenset({"cancelled", "exception", "planned"})
"""Intake outcomes after which the later stages have nothing to work on."""


def _skip(merchant: str, return_id: str, detail: str) -> ReturnOutcome:
    return ReturnOutcome(merchant=merchant, return_id=return_id, outcome="skipped", detail=detail)


def _replay(merchant: str, return_id: str, dry_run: bool) -> list[ReturnOutcome]:
    logger = get_run_logger()
    (ret,) = fetch_returns(merchant, [return_id])
    outcomes = list(create_rmas(merchant, opaque([ret]), dry_run=dry_run))
    intake = outcomes[-1].outcome if outcomes else "skipped"
    linked = get_ledger().get_link(merchant, return_id=return_id) is not None
    if intake in STOP_AFTER_INTAKE or (intake == "skipped" and not linked):
        logger.info("return %s: intake %s; no later stage applies", return_id, intake)
        return outcomes
    rma = read_rma_for_return(merchant, return_id)
    if rma is None:
        return [*outcomes, _skip(merchant, return_id, "no RMA in AMS")]
    if dry_run:
        outcomes.append(_skip(merchant, return_id, f"dry run: AMS status {rma.status}"))
    else:
        outcomes += record_rma(merchant, opaque(rma))
    if not is_ams_status(rma.status, RECEIVED):
        logger.info("return %s: RMA %s, waiting for the warehouse", return_id, rma.status)
        return outcomes
    outcomes.append(refund_return(merchant, return_id, dry_run=dry_run))
    return outcomes


@flow(name="replay-return", flow_run_name="replay-{merchant}-{return_id}")
def replay_return(merchant: str, return_id: str, dry_run: bool = False) -> StageSummary:
    """Drive one return through the stages it still needs: intake, arrival, completion.

    Args:
        merchant: The merchant's name (one merchant).
        return_id: The Returnly return id.
        dry_run: Plan only: show what each stage would do, change nothing.
    """
    load_merchant(merchant)  # an unknown name fails here, before any call
    tag_run_with_merchants([merchant])
    with tags(merchant_tag(merchant)):
        outcomes = _replay(merchant, return_id, dry_run)
    summary = StageSummary.of("replay", merchant, outcomes)
    steps = "\n".join(f"| {o.outcome} | {o.detail} |" for o in outcomes)
    create_markdown_artifact(
        key=artifact_key("replay", merchant),
        markdown=f"# Replay of return {return_id} ({merchant})\n\n"
        f"{'**dry run**: nothing changed' if dry_run else ''}\n\n"
        f"| outcome | detail |\n|---|---|\n{steps}\n",
        description=f"replay {return_id}: {summary.counts}",
    )
    return summary
