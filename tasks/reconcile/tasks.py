"""Prefect tasks of the reconciliation: thin, named, tagged wrappers over the plain steps.

Tasks take the merchant's name and small values, and resolve clients, ledger and settings
inside, so secrets never travel as parameters. Frames and drift stay in memory between tasks
(no result persistence, no cache: every night reads afresh).
"""

from __future__ import annotations

import re
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

from core.settings import load_settings
from tasks.reconcile.chart import svg_chart, svg_data_url
from tasks.reconcile.heal import heal
from tasks.reconcile.models import HealStep
from tasks.reconcile.report import (
    counts_of,
    previous_counts,
    report_day,
    report_markdown,
    table_rows,
    trend,
    write_report,
)
from tasks.reconcile.run import Frames, detect_drift, fetch_frames
from tasks.reconcile.window import Window
from tasks.retry import retry_transient
from tasks.runtime import ams_client, get_ledger, load_merchant, returnly_client

RETRIES = 2
RETRY_DELAYS: list[float] = [2.0, 10.0]


def artifact_key(prefix: str, merchant: str) -> str:
    """``<prefix>-<merchant>`` restricted to what artifact keys allow (lowercase, digits, -)."""
    return re.sub(r"[^a-z0-9-]+", "-", f"{prefix}-{merchant}".lower()).strip("-")


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
        returnly=returnly_client(config),
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
    name="heal-drift",
    tags=["returnly", "ams", "ledger"],
    cache_policy=NONE,
    task_run_name="heal-{merchant}",
)
def heal_drift(merchant: str, steps: list[HealStep]) -> list[HealStep]:
    """Run intake / completion for the planned steps (each return isolated)."""
    config = load_merchant(merchant)
    return heal(
        config, steps, ledger=get_ledger(), returnly=returnly_client(config), ams=ams_client(config)
    )


@task(
    name="write-reconcile-report",
    tags=["reports"],
    cache_policy=NONE,
    task_run_name="report-{merchant}",
)
def write_reconcile_report(
    merchant: str, drift: pd.DataFrame, healing: list[HealStep], window: Window
) -> str:
    """Write the full report (CSV, Parquet, counts, healing, trend) under ``reports_dir``."""
    config = load_merchant(merchant)
    folder = write_report(
        drift,
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
    drift: pd.DataFrame,
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
    counts = counts_of(drift)
    keys = {
        "table": artifact_key("reconcile-drift", merchant),
        "markdown": artifact_key("reconcile-report", merchant),
        "chart": artifact_key("reconcile-chart", merchant),
    }
    rows = table_rows(drift, healing)
    create_table_artifact(
        key=keys["table"],
        table=rows,
        description=f"{merchant}: {counts.total} drift rows, {len(rows)} most severe shown",
    )
    create_markdown_artifact(
        key=keys["markdown"],
        markdown=report_markdown(
            drift,
            merchant=merchant,
            window=window,
            previous=previous_counts(root, merchant, day),
            nights=nights,
            healing=healing,
            heal_mode=heal_mode,
            folder=Path(folder),
        ),
        description=f"{merchant}: drift by kind and severity, trend, healing",
    )
    create_image_artifact(
        image_url=svg_data_url(svg_chart(nights, f"Drift by kind: {merchant}")),
        key=keys["chart"],
        description=f"{merchant}: drift by kind over the last {len(nights)} night(s)",
    )
    return keys
