"""Nightly reconciliation: read Returnly, AMS and the ledger, classify drift, report, heal.

Per merchant (one merchant's failure never stops another): fetch both sides concurrently into
the drift frames, classify, triage (open review exceptions, the previous night's report),
measure refund speed, optionally heal, write the full report (CSV + Parquet) and publish the
table, markdown and chart artifacts under stable keys. Healing is opt-in and a dry run by
default: ``heal=True`` alone only plans; ``heal=True, dry_run=False`` acts.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from core.speed import duration_text
from flows.common import artifact_key, tag_run_with_merchants, thread_runner
from flows.progress import RunProgress, progress_key
from runtime import merchant_names
from stages.reconcile import (
    HealStep,
    MerchantReconcile,
    ReconcileResult,
    Tonight,
    Window,
    check_fail_above,
    counts_of,
    plan_healing,
)
from tasks.reconcile.tasks import (
    classify_drift,
    fetch_reconcile_frames,
    heal_drift,
    measure_refund_speed,
    publish_reconcile_artifacts,
    triage_drift,
    write_reconcile_report,
)

CONCURRENCY = 4


class ReconcileError(RuntimeError):
    """The reconciliation could not finish for some merchant, or healing failed."""


class DriftAboveThresholdError(ReconcileError):
    """Drift counts exceeded ``fail_above`` (raised after everything was published)."""


def _heal_mode(heal: bool, dry_run: bool) -> str:
    if not heal:
        return "off"
    return "dry run (planned only, nothing changed)" if dry_run else "applied"


STEPS_PER_MERCHANT = 3
"""Progress steps of one merchant: fetched, classified, healed and published."""


def _reconcile_one(
    name: str, window: Window, heal: bool, dry_run: bool, progress: RunProgress
) -> MerchantReconcile:
    logger = get_run_logger()
    frames = fetch_reconcile_frames(name, window)
    progress.advance(description=f"reconcile {name}: fetched")
    classified, classify_s = classify_drift(name, frames, window)
    tonight = Tonight(triage_drift(name, classified, window), measure_refund_speed(name, frames))
    drift = tonight.drift  # an explained row is not healable: the stage would hold it again
    progress.advance(description=f"reconcile {name}: classified and triaged")
    steps: list[HealStep] = plan_healing(drift) if heal else []
    if steps and dry_run:
        for step in steps:
            logger.info(
                "dry run: would %s %s (%s, %s)",
                "re-run intake for" if step.action == "intake" else "re-run completion for",
                step.return_id,
                step.customer_identifier,
                step.kind,
            )
    elif steps:
        steps = heal_drift(name, steps)
    folder = write_reconcile_report(name, tonight, steps, window)
    publish_reconcile_artifacts(name, tonight, steps, window, folder, _heal_mode(heal, dry_run))
    progress.advance(description=f"reconcile {name}: published")
    counts = counts_of(drift)
    logger.info("%s: %d drift rows %s", name, counts.total, counts.by_severity)
    return MerchantReconcile(
        merchant=name,
        window_start=window.start,
        now=window.now,
        **frames.counts,
        total=counts.total,
        by_kind=counts.by_kind,
        by_severity=counts.by_severity,
        healable=counts.healable,
        triage=tonight.triage.counts.as_dict(),
        refund_speed=tonight.speed.for_merchant(name),
        healing=steps,
        report_dir=folder,
        timings={
            "fetch_returnly_s": frames.fetch.returnly_s,
            "fetch_ams_s": frames.fetch.ams_s,
            "fetch_by_id_s": frames.fetch.closure_s,
            "fetch_s": frames.fetch.wall_s,
            "build_frames_s": frames.build_s,
            "classify_s": classify_s,
        },
    )


def _summary_markdown(result: ReconcileResult) -> str:
    lines = [
        f"# Reconciliation: {result.merchant}",
        "",
        f"At {result.now.isoformat()}, trailing {result.days} days.",
        "",
        "| merchant | drift | critical | high | medium | low | healable | healed | new | "
        "resolved | explained | authorize → refunded p50 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in sorted(result.merchants.items()):
        sev, tri = m.by_severity, m.triage
        p50 = m.refund_speed.get("authorize_to_refund", {}).get("p50_h")
        lines.append(
            f"| {name} | {m.total} | {sev.get('critical', 0)} | {sev.get('high', 0)} | "
            f"{sev.get('medium', 0)} | {sev.get('low', 0)} | {m.healable} | {m.healed} | "
            f"{tri.get('new', 0)} | {tri.get('resolved', 0)} | {tri.get('explained', 0)} | "
            f"{duration_text([np.nan if p50 is None else float(p50)]).iloc[0]} |"
        )
    for name, err in sorted(result.failed_merchants.items()):
        lines.append(f"\n**merchant {name} failed:** {err}")
    return "\n".join(lines) + "\n"


@flow(
    name="reconcile",
    flow_run_name="reconcile-{merchant}",
    task_runner=thread_runner(CONCURRENCY),
)
def reconcile(
    merchant: str = "all",
    days: int = 90,
    include_open: bool = True,
    heal: bool = False,
    dry_run: bool = True,
    fail_above: dict[str, int] | None = None,
    now: datetime | None = None,
) -> ReconcileResult:
    """Compare Returnly, AMS and the ledger; publish the drift; optionally heal what is safe.

    Args:
        merchant: A merchant name, a comma list, or ``all``.
        days: Returns and RMAs created in the trailing ``days`` are in scope.
        include_open: Also everything still open, whatever its age.
        heal: Plan healing (re-run intake / completion for healable rows).
        dry_run: With ``heal``, only log and publish the plan; ``False`` carries it out.
        fail_above: Fail the run (after publishing) when a count exceeds its limit, e.g.
            ``{"critical": 0}``; keys are severities, drift kinds or ``total``.
        now: The reconciliation instant (default: now); naive values are taken as UTC.
    """
    limits = check_fail_above(fail_above)
    at = now or datetime.now(UTC)
    window = Window(
        now=at if at.tzinfo else at.replace(tzinfo=UTC), days=days, include_open=include_open
    )
    logger = get_run_logger()
    result = ReconcileResult(merchant=merchant, now=window.now, days=days)
    names = merchant_names(merchant)
    tag_run_with_merchants(names)
    progress = RunProgress(
        "reconcile",
        total=len(names) * STEPS_PER_MERCHANT,
        key=progress_key("reconcile-progress", merchant),
    ).start()
    for name in names:
        try:
            result.merchants[name] = _reconcile_one(name, window, heal, dry_run, progress)
        except Exception as exc:
            logger.exception("reconciliation failed for merchant %s", name)
            result.failed_merchants[name] = type(exc).__name__
    progress.finish(f"reconcile {merchant}: {len(result.merchants)} of {len(names)} merchants")
    create_markdown_artifact(
        key=artifact_key("reconcile-summary", merchant),
        markdown=_summary_markdown(result),
        description=f"reconcile {merchant}: {result.total} drift rows",
    )
    problems = [f"merchant {n} failed ({e})" for n, e in sorted(result.failed_merchants.items())]
    for name, m in sorted(result.merchants.items()):
        if m.heal_failures:
            problems.append(f"{name}: {len(m.heal_failures)} healing step(s) failed")
    breaches = result.breaches(limits)
    if problems:
        raise ReconcileError("; ".join(problems + breaches))
    if breaches:
        raise DriftAboveThresholdError("drift above thresholds: " + "; ".join(breaches))
    return result


if __name__ == "__main__":
    reconcile(merchant="all")
