"""Earlier nights' reports: what tonight compares with, carries forward and charts.

A night is a dated folder ``<reports_dir>/<merchant>/<YYYY-MM-DD>/`` with a ``counts.json``.
The previous night is the latest *earlier* date, so a second run on the same date compares
with the same night as the first (re-running a night is repeatable). The previous night's
``drift.parquet`` is where ``first_seen`` is carried from (:func:`previous_drift`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final

import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from core.drift.frames import coerce_frame, empty_frame, validate_frame
from core.drift.triage import PREVIOUS

COUNTS_FILE: Final = "counts.json"
DRIFT_FILE: Final = "drift.parquet"
TREND_NIGHTS: Final = 14

SpanSpeed = dict[str, float | int | None]
"""One span's night: ``returns``, ``skipped``, ``p50_h``, ``p95_h``, ``max_h``."""


@dataclass(frozen=True, slots=True)
class Night:
    """One night's counts per kind, and refund speed per span (``day`` as YYYY-MM-DD)."""

    day: str
    by_kind: dict[str, int]
    speed: dict[str, SpanSpeed] = field(default_factory=dict)
    """Span name -> that night's stats (empty for reports written before refund speed)."""

    @property
    def total(self) -> int:
        """All drift rows that night."""
        return sum(self.by_kind.values())


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


def _counts(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((path / COUNTS_FILE).read_text(encoding="utf-8"))
    return data


def _night(path: Path) -> Night:
    data = _counts(path)
    return Night(
        day=str(data["date"]),
        by_kind={k: int(v) for k, v in data["by_kind"].items()},
        speed={str(k): dict(v) for k, v in data.get("refund_speed", {}).items()},
    )


def _previous_dir(root: Path, merchant: str, day: date) -> Path | None:
    earlier = [path for d, path in _dated_dirs(root, merchant) if d < day]
    return earlier[-1] if earlier else None


def previous_counts(root: Path, merchant: str, day: date) -> dict[str, int] | None:
    """Counts per kind of the latest report dated before ``day`` (``None``: first night)."""
    folder = _previous_dir(root, merchant, day)
    return None if folder is None else _night(folder).by_kind


def trend(root: Path, merchant: str, day: date, nights: int = TREND_NIGHTS) -> list[Night]:
    """The last ``nights`` reports up to and including ``day``, oldest first."""
    dirs = [path for d, path in _dated_dirs(root, merchant) if d <= day]
    return [_night(path) for path in dirs[-nights:]]


def previous_drift(
    root: Path, merchant: str, day: date
) -> tuple[pd.DataFrame, pd.Timestamp | None]:
    """The previous report's drift rows (``PREVIOUS`` frame) and its instant.

    A report written before triage has no ``first_seen``: its rows count as first seen on
    that night. A night without a drift file (none written yet) has no rows.
    """
    folder = _previous_dir(root, merchant, day)
    if folder is None:
        return empty_frame(PREVIOUS), None
    at = pd.Timestamp(_counts(folder)["now"]).tz_convert("UTC").as_unit("ns")
    if not (folder / DRIFT_FILE).is_file():
        return empty_frame(PREVIOUS), at
    rows = pd.read_parquet(folder / DRIFT_FILE)
    if "first_seen" not in rows.columns:
        rows = rows.assign(first_seen=at)
    picked = pd.DataFrame({column: rows[column] for column in PREVIOUS})
    picked = picked.assign(
        kind=picked["kind"].astype("str"),
        severity=picked["severity"].astype("str"),
        first_seen=picked["first_seen"].fillna(at),
    )
    frame = coerce_frame(picked, PREVIOUS)
    return validate_frame(frame, PREVIOUS, "previous"), at
