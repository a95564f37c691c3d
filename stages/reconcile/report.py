"""The nightly report on disk and its text: CSV + Parquet, counts for tomorrow, charts, markdown.

Layout: ``<reports_dir>/<merchant>/<YYYY-MM-DD>/`` (the date in the merchant's timezone) with
``drift.csv`` and ``drift.parquet`` (every drift row with its triage: the next night carries
``first_seen`` from here), ``counts.json`` (counts, triage counts and refund speed: what the
next night compares with and the trend charts read), ``slowest.csv`` (the slowest returns),
``healing.json``, ``trend.png`` and ``speed.png``. A second run on the same date replaces that
date's files; the previous night is the latest earlier date (:mod:`stages.reconcile.history`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from core.drift import SEVERITIES, oldest_items, render_markdown, summarize
from core.drift.triage import Triage
from core.drift.triage_report import render_triage
from core.speed import RefundSpeed, render_speed
from stages.budget import BudgetRow, budget_markdown
from stages.reconcile.chart import (
    drift_chart_png,
    markdown_chart,
    markdown_speed_chart,
    speed_chart_png,
)
from stages.reconcile.history import COUNTS_FILE as COUNTS_FILE  # read by the demo summary
from stages.reconcile.history import DRIFT_FILE, Night, trend
from stages.reconcile.models import HealStep
from stages.reconcile.window import Window

TABLE_LIMIT: Final = 500
HEAL_SHOWN: Final = 50
OLDEST_SHOWN: Final = 10
TABLE_COLUMNS: Final = (
    "severity",
    "kind",
    "triage",
    "age_days",
    "age_bucket",
    "since",
    "first_seen",
    "customer_identifier",
    "return_id",
    "ams_id",
    "detail",
    "explained",
    "exception_id",
    "exception_reason",
    "suggested_action",
    "healable",
    "heal",
)
_TEXT_COLUMNS: Final = (
    "triage",
    "age_bucket",
    "customer_identifier",
    "return_id",
    "ams_id",
    "detail",
    "exception_reason",
    "suggested_action",
    "heal",
)


@dataclass(frozen=True, slots=True)
class Tonight:
    """What one night's report shows: the triaged drift (and what was resolved), refund speed."""

    triage: Triage
    speed: RefundSpeed

    @property
    def drift(self) -> pd.DataFrame:
        """Tonight's drift rows, triaged."""
        return self.triage.drift


@dataclass(frozen=True, slots=True)
class Counts:
    """Drift rows per kind (every kind), per severity (every severity) and in total."""

    by_kind: dict[str, int]
    by_severity: dict[str, int]
    total: int
    healable: int


def counts_of(drift: pd.DataFrame) -> Counts:
    """Count a drift frame."""
    table = summarize(drift)
    return Counts(
        by_kind={str(k): int(v) for k, v in table["total"].items()},
        by_severity={s: int(table[s].sum()) for s in reversed(SEVERITIES)},
        total=int(table["total"].sum()),
        healable=int(drift["healable"].sum()) if len(drift) else 0,
    )


def report_day(now: datetime, timezone: str) -> date:
    """The report's date: the reconciliation instant in the merchant's timezone."""
    return now.astimezone(ZoneInfo(timezone)).date()


def report_dir(root: Path, merchant: str, day: date) -> Path:
    """Where one merchant's report for one date lives."""
    return root / merchant / day.isoformat()


def heal_column(drift: pd.DataFrame, healing: Sequence[HealStep]) -> pd.Series:
    """Per drift row, the healing outcome of its (identity, kind), else empty."""
    by_key = {(s.customer_identifier, s.kind): f"{s.action}: {s.outcome}" for s in healing}
    keys = zip(drift["customer_identifier"].astype("str"), drift["kind"].astype("str"), strict=True)
    return pd.Series([by_key.get(k, "") for k in keys], index=drift.index, dtype="str")


def export_frame(drift: pd.DataFrame, healing: Sequence[HealStep]) -> pd.DataFrame:
    """The full report: the drift frame plus the healing outcome of each row."""
    return drift.assign(heal=heal_column(drift, healing))


def _iso_column(values: pd.Series) -> pd.Series:
    return values.map(_iso, na_action="ignore").astype("str")


def write_report(
    tonight: Tonight,
    healing: Sequence[HealStep],
    *,
    root: Path,
    merchant: str,
    day: date,
    window: Window,
) -> Path:
    """Write CSV, Parquet, counts, the slowest returns, healing and both charts."""
    folder = report_dir(root, merchant, day)
    folder.mkdir(parents=True, exist_ok=True)
    full = export_frame(tonight.drift, healing)
    full.to_parquet(folder / DRIFT_FILE, index=False)
    full.assign(
        since=_iso_column(full["since"]), first_seen=_iso_column(full["first_seen"])
    ).to_csv(folder / "drift.csv", index=False)
    slowest = tonight.speed.slowest
    slowest.assign(
        **{c: _iso_column(slowest[c]) for c in slowest.columns if c.endswith("_at")}
    ).to_csv(folder / "slowest.csv", index=False)
    counts = counts_of(tonight.drift)
    previous_at = tonight.triage.previous_at
    summary = {
        "merchant": merchant,
        "date": day.isoformat(),
        "now": window.now.isoformat(),
        "window": {
            "start": window.start.isoformat(),
            "days": window.days,
            "include_open": window.include_open,
        },
        "total": counts.total,
        "healable": counts.healable,
        "by_kind": counts.by_kind,
        "by_severity": counts.by_severity,
        "triage": tonight.triage.counts.as_dict(),
        "previous_report": None if previous_at is None else previous_at.isoformat(),
        "refund_speed": tonight.speed.for_merchant(merchant),
    }
    _write_json(folder / COUNTS_FILE, summary)
    _write_json(folder / "healing.json", [s.model_dump(mode="json") for s in healing])
    nights = trend(root, merchant, day)
    (folder / "trend.png").write_bytes(drift_chart_png(nights, f"Drift by kind: {merchant}"))
    (folder / "speed.png").write_bytes(speed_chart_png(nights, f"Refund speed: {merchant}"))
    return folder


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def _iso(value: Any) -> str:
    return str(pd.Timestamp(value).isoformat())


def table_rows(
    drift: pd.DataFrame, healing: Sequence[HealStep], limit: int = TABLE_LIMIT
) -> list[dict[str, Any]]:
    """The first ``limit`` triaged rows (most severe first) as JSON-safe dicts for a table."""
    top = export_frame(drift.head(limit), healing)
    columns: dict[str, list[Any]] = {
        "severity": top["severity"].astype("str").tolist(),
        "kind": top["kind"].astype("str").tolist(),
        "age_days": [None if np.isnan(v) else round(float(v), 1) for v in top["age_days"]],
        "since": [None if pd.isna(v) else _iso(v) for v in top["since"]],
        "first_seen": [None if pd.isna(v) else _iso(v) for v in top["first_seen"]],
        "healable": [bool(v) for v in top["healable"]],
        "explained": [bool(v) for v in top["explained"]],
        "exception_id": [None if pd.isna(v) else int(v) for v in top["exception_id"]],
    }
    for name in _TEXT_COLUMNS:
        columns[name] = [None if pd.isna(v) else str(v) for v in top[name]]
    return [{name: columns[name][i] for name in TABLE_COLUMNS} for i in range(len(top))]


def healing_markdown(healing: Sequence[HealStep], mode: str) -> list[str]:
    """The healing section: the mode, then one line per step (capped)."""
    lines = ["## Healing", "", f"Mode: **{mode}**.", ""]
    if not healing:
        return [*lines, "Nothing to heal.", ""]
    lines += [
        "| return | identity | kind | action | outcome | detail |",
        "|---|---|---|---|---|---|",
    ]
    for s in healing[:HEAL_SHOWN]:
        detail = s.detail.replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {s.return_id} | {s.customer_identifier} | {s.kind} | {s.action} | "
            f"{s.outcome} | {detail} |"
        )
    if len(healing) > HEAL_SHOWN:
        lines.append(f"\n… and {len(healing) - HEAL_SHOWN} more (see healing.json).")
    return [*lines, ""]


def report_markdown(
    tonight: Tonight,
    *,
    merchant: str,
    window: Window,
    previous: dict[str, int] | None,
    nights: Sequence[Night],
    healing: Sequence[HealStep],
    heal_mode: str,
    folder: Path | None,
    budget: Sequence[BudgetRow] = (),
) -> str:
    """The markdown artifact: drift counts, triage, oldest items, refund speed, trends, healing,
    and the request budget of the last hour."""
    drift = tonight.drift
    body = render_markdown(drift, previous_counts=previous, oldest_n=0).split("\n", 1)[1]
    lines = [
        f"# Returns drift report: {merchant}",
        "",
        f"Reconciled at {window.now.isoformat()} over returns {window.describe()}.",
        body.rstrip("\n"),
        "",
        render_triage(tonight.triage).rstrip("\n"),
        "",
        *oldest_items(drift, OLDEST_SHOWN),
        render_speed(tonight.speed).rstrip("\n"),
        "",
        "## Drift by kind over the last nights",
        "",
        markdown_chart(nights).rstrip("\n"),
        "",
        "## Refund speed over the last nights",
        "",
        markdown_speed_chart(nights).rstrip("\n"),
        "",
        *healing_markdown(healing, heal_mode),
        *budget_markdown(budget),
    ]
    if folder is not None:
        lines += [
            "## Full report",
            "",
            f"- CSV: `{folder / 'drift.csv'}`",
            f"- Parquet: `{folder / DRIFT_FILE}`",
            f"- Slowest returns: `{folder / 'slowest.csv'}`",
            f"- Charts: `{folder / 'trend.png'}`, `{folder / 'speed.png'}`",
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"
