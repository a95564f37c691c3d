"""The nightly report on disk and its text: CSV + Parquet, counts for tomorrow, trend, markdown.

Layout: ``<reports_dir>/<merchant>/<YYYY-MM-DD>/`` (the date in the merchant's timezone) with
``drift.csv``, ``drift.parquet``, ``counts.json`` (what the next night compares with and the
trend chart reads), ``healing.json`` and ``trend.svg``. A second run on the same date replaces
that date's files; the previous night is the latest earlier date with a ``counts.json``.
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

from core.drift import SEVERITIES, render_markdown, summarize
from tasks.reconcile.chart import Night, markdown_chart, svg_chart
from tasks.reconcile.models import HealStep
from tasks.reconcile.window import Window

COUNTS_FILE: Final = "counts.json"
TREND_NIGHTS: Final = 14
TABLE_LIMIT: Final = 500
HEAL_SHOWN: Final = 50
TABLE_COLUMNS: Final = (
    "severity",
    "kind",
    "age_days",
    "since",
    "customer_identifier",
    "return_id",
    "ams_id",
    "detail",
    "suggested_action",
    "healable",
    "heal",
)


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


def _dated_dirs(root: Path, merchant: str) -> list[tuple[date, Path]]:
    base = root / merchant
    if not base.is_dir():
        return []
    out = []
    for child in base.iterdir():
        try:
            day = date.fromisoformat(child.name)
        except ValueError:
            continue
        if (child / COUNTS_FILE).is_file():
            out.append((day, child))
    return sorted(out)


def _night(path: Path) -> Night:
    data = json.loads((path / COUNTS_FILE).read_text(encoding="utf-8"))
    return Night(day=str(data["date"]), by_kind={k: int(v) for k, v in data["by_kind"].items()})


def previous_counts(root: Path, merchant: str, day: date) -> dict[str, int] | None:
    """Counts per kind of the latest report dated before ``day`` (``None``: first night)."""
    earlier = [path for d, path in _dated_dirs(root, merchant) if d < day]
    return _night(earlier[-1]).by_kind if earlier else None


def trend(root: Path, merchant: str, day: date, nights: int = TREND_NIGHTS) -> list[Night]:
    """The last ``nights`` reports up to and including ``day``, oldest first."""
    dirs = [path for d, path in _dated_dirs(root, merchant) if d <= day]
    return [_night(path) for path in dirs[-nights:]]


def heal_column(drift: pd.DataFrame, healing: Sequence[HealStep]) -> pd.Series:
    """Per drift row, the healing outcome of its (identity, kind), else empty."""
    by_key = {(s.customer_identifier, s.kind): f"{s.action}: {s.outcome}" for s in healing}
    keys = zip(drift["customer_identifier"].astype("str"), drift["kind"].astype("str"), strict=True)
    return pd.Series([by_key.get(k, "") for k in keys], index=drift.index, dtype="str")


def export_frame(drift: pd.DataFrame, healing: Sequence[HealStep]) -> pd.DataFrame:
    """The full report: the drift frame plus the healing outcome of each row."""
    return drift.assign(heal=heal_column(drift, healing))


def write_report(
    drift: pd.DataFrame,
    healing: Sequence[HealStep],
    *,
    root: Path,
    merchant: str,
    day: date,
    window: Window,
) -> Path:
    """Write CSV, Parquet, counts, healing and the trend chart; answers the directory."""
    folder = report_dir(root, merchant, day)
    folder.mkdir(parents=True, exist_ok=True)
    full = export_frame(drift, healing)
    full.to_parquet(folder / "drift.parquet", index=False)
    as_text = full.assign(since=full["since"].map(_iso, na_action="ignore").astype("str"))
    as_text.to_csv(folder / "drift.csv", index=False)
    counts = counts_of(drift)
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
    }
    _write_json(folder / COUNTS_FILE, summary)
    _write_json(folder / "healing.json", [s.model_dump(mode="json") for s in healing])
    (folder / "trend.svg").write_text(
        svg_chart(trend(root, merchant, day), f"Drift by kind: {merchant}"), encoding="utf-8"
    )
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
    """The first ``limit`` rows (most severe first) as JSON-safe dicts for a table artifact."""
    top = export_frame(drift.head(limit), healing)
    columns: dict[str, list[Any]] = {
        "severity": top["severity"].astype("str").tolist(),
        "kind": top["kind"].astype("str").tolist(),
        "age_days": [None if np.isnan(v) else round(float(v), 1) for v in top["age_days"]],
        "since": [None if pd.isna(v) else _iso(v) for v in top["since"]],
        "healable": [bool(v) for v in top["healable"]],
    }
    for name in (
        "customer_identifier",
        "return_id",
        "ams_id",
        "detail",
        "suggested_action",
        "heal",
    ):
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
    drift: pd.DataFrame,
    *,
    merchant: str,
    window: Window,
    previous: dict[str, int] | None,
    nights: Sequence[Night],
    healing: Sequence[HealStep],
    heal_mode: str,
    folder: Path | None,
) -> str:
    """The markdown artifact: the core drift report, trend chart, healing and file paths."""
    body = render_markdown(drift, previous_counts=previous).split("\n", 1)[1]
    lines = [
        f"# Returns drift report: {merchant}",
        "",
        f"Reconciled at {window.now.isoformat()} over returns {window.describe()}.",
        body.rstrip("\n"),
        "",
        "## Drift by kind over the last nights",
        "",
        markdown_chart(nights).rstrip("\n"),
        "",
        *healing_markdown(healing, heal_mode),
    ]
    if folder is not None:
        lines += [
            "## Full report",
            "",
            f"- CSV: `{folder / 'drift.csv'}`",
            f"- Parquet: `{folder / 'drift.parquet'}`",
            f"- Trend chart: `{folder / 'trend.svg'}`",
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"
