"""Prefect tasks of the reconciliation: thin, named, tagged wrappers over the plain steps.

Tasks take the merchant's name and small values, and resolve clients, ledger and settings
inside, so secrets never travel as parameters. Frames and drift stay in memory between tasks
(no result persistence, no cache: every night reads afresh).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3
from prefect import task
from prefect.artifacts import (
    create_image_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NONE

from core.drift.triage import Triage, triage
from core.settings import load_settings
from core.speed import RefundSpeed, refund_speed
from runtime import ams_client, get_ledger, load_merchant, returns_platform
from stages.reconcile.chart import drift_chart_png, png_data_url, speed_chart_png
from stages.reconcile.exceptions_frame import open_exceptions
from stages.reconcile.heal import heal
from stages.reconcile.history import previous_counts, previous_drift, trend
from stages.reconcile.models import HealStep
from stages.reconcile.report import (
    Tonight,
    counts_of,
    report_day,
    report_markdown,
    table_rows,
    write_report,
)
from stages.reconcile.run import Frames, detect_drift, fetch_frames
from stages.reconcile.window import Window
from tasks.artifacts import artifact_key as shared_artifact_key
from tasks.budget import budget_artifact_key, publish_budget
from tasks.retry import retry_transient

logger = logging.getLogger(__name__)

RETRIES = 2
RETRY_DELAYS: list[float] = [2.0, 10.0]


def artifact_key(prefix: str, merchant: str) -> str:
    """``<prefix>-<merchant>`` restricted to what artifact keys allow (lowercase, digits, -)."""
    return shared_artifact_key(prefix, merchant)


@task(
    name="fetch-reconcile-frames",
    tags=["returnly", "ams", "ledger"],
    cache_policy=NONE,
    task_run_name="fetch-frames-{merchant}",
    retries=RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_transient,
)
def fetch_reconcile_frames(merchant: str, window: Window) -> Frames:
    """Read both systems and the ledger for the window into the three drift frames."""
    config = load_merchant(merchant)
    return fetch_frames(
        config,
        window,
        returnly=returns_platform(config),
        ams=ams_client(config),
        ledger=get_ledger(),
    )


@task(name="classify-drift", cache_policy=NONE, task_run_name="classify-{merchant}")
def classify_drift(merchant: str, frames: Frames, window: Window) -> tuple[pd.DataFrame, float]:
    """Drift rows under the merchant's thresholds, and the seconds it took."""
    started = time.perf_counter()
    drift = detect_drift(load_merchant(merchant), frames, window)
    return drift, time.perf_counter() - started


@task(
    name="triage-drift",
    tags=["ledger", "reports"],
    cache_policy=NONE,
    task_run_name="triage-{merchant}",
)
def triage_drift(merchant: str, drift: pd.DataFrame, window: Window) -> Triage:
    """Tonight's drift against the open review exceptions and the previous night's report."""
    config = load_merchant(merchant)
    before, previous_at = previous_drift(
        Path(load_settings().reports_dir), merchant, report_day(window.now, config.timezone)
    )
    return triage(
        drift,
        open_exceptions(get_ledger(), merchant),
        before,
        now=window.now,
        previous_at=previous_at,
    )


@task(name="measure-refund-speed", cache_policy=NONE, task_run_name="refund-speed-{merchant}")
def measure_refund_speed(merchant: str, frames: Frames) -> RefundSpeed:  # noqa: ARG001 (run name)
    """Refund speed of the returns in the frames (instants from Returnly and AMS)."""
    return refund_speed(frames.returnly, frames.ams)


@task(
    name="heal-drift",
    tags=["returnly", "ams", "ledger"],
    cache_policy=NONE,
    task_run_name="heal-{merchant}",
)
def heal_drift(merchant: str, steps: list[HealStep]) -> list[HealStep]:
    """Run intake / completion for the planned steps (each return isolated)."""
    config = load_merchant(merchant)
    return heal(
        config,
        steps,
        ledger=get_ledger(),
        returnly=returns_platform(config),
        ams=ams_client(config),
    )


@task(
    name="write-reconcile-report",
    tags=["reports"],
    cache_policy=NONE,
    task_run_name="report-{merchant}",
)
def write_reconcile_report(
    merchant: str, tonight: Tonight, healing: list[HealStep], window: Window
) -> str:
    """Write the full report (drift, counts, speed, healing, charts) under ``reports_dir``."""
    config = load_merchant(merchant)
    folder = write_report(
        tonight,
        healing,
        root=Path(load_settings().reports_dir),
        merchant=merchant,
        day=report_day(window.now, config.timezone),
        window=window,
    )
    return str(folder)


@task(name="publish-reconcile-artifacts", cache_policy=NONE, task_run_name="artifacts-{merchant}")
def publish_reconcile_artifacts(
    merchant: str,
    tonight: Tonight,
    healing: list[HealStep],
    window: Window,
    folder: str,
    heal_mode: str,
) -> dict[str, str]:
    """Table, markdown and chart artifacts, each under a stable per-merchant key."""
    config = load_merchant(merchant)
    root = Path(load_settings().reports_dir)
    day = report_day(window.now, config.timezone)
    nights = trend(root, merchant, day)
    counts = counts_of(tonight.drift)
    keys = {
        "table": artifact_key("reconcile-drift", merchant),
        "markdown": artifact_key("reconcile-report", merchant),
        "chart": artifact_key("reconcile-chart", merchant),
        "speed_chart": artifact_key("reconcile-speed-chart", merchant),
    }
    rows = table_rows(tonight.drift, healing)
    try:
        budget = publish_budget(merchant, ledger=get_ledger())
        keys["budget"] = budget_artifact_key(merchant)
    except Exception as exc:  # best effort: the report does not depend on it
        logger.warning("request budget of %s not published: %s", merchant, exc)
        budget = []
    create_table_artifact(
        key=keys["table"],
        table=rows,
        description=f"{merchant}: {counts.total} drift rows, {len(rows)} most severe shown",
    )
    create_markdown_artifact(
        key=keys["markdown"],
        markdown=report_markdown(
            tonight,
            merchant=merchant,
            window=window,
            previous=previous_counts(root, merchant, day),
            nights=nights,
            healing=healing,
            heal_mode=heal_mode,
            folder=Path(folder),
            budget=budget,
        ),
        description=f"{merchant}: drift by kind and severity, triage, refund speed, healing",
    )
    create_image_artifact(
        image_url=png_data_url(drift_chart_png(nights, f"Drift by kind: {merchant}")),
        key=keys["chart"],
        description=f"{merchant}: drift by kind over the last {len(nights)} night(s)",
    )
    create_image_artifact(
        image_url=png_data_url(speed_chart_png(nights, f"Refund speed: {merchant}")),
        key=keys["speed_chart"],
        description=f"{merchant}: refund speed p50/p95 over the last {len(nights)} night(s)",
    )
    return keys
