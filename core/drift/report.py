"""Counts and the human report of a drift frame (deterministic: checked against a golden file)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from core.drift.classify import KIND_DTYPE, SEVERITY_DTYPE
from core.drift.text import day_text, exception_label, table_lines, tenths

_MOST_SEVERE_FIRST: Final = list(reversed(SEVERITY_DTYPE.categories))


def summarize(drift: pd.DataFrame) -> pd.DataFrame:
    """Counts per kind (every kind, in taxonomy order) and severity (most severe first) + total."""
    kind = drift["kind"].astype(KIND_DTYPE)
    severity = drift["severity"].astype(SEVERITY_DTYPE)
    counts = (
        pd.crosstab(kind, severity, dropna=False)
        .reindex(index=KIND_DTYPE.categories, columns=_MOST_SEVERE_FIRST, fill_value=0)
        .astype(np.int64)
    )
    counts["total"] = counts.sum(axis=1)
    counts.index = pd.Index(KIND_DTYPE.categories, name="kind", dtype="str")
    counts.columns = pd.Index([*_MOST_SEVERE_FIRST, "total"], name=None, dtype="str")
    return counts


def _totals(previous: pd.DataFrame | Mapping[str, int]) -> pd.Series:
    if isinstance(previous, pd.DataFrame):
        return previous["total"].astype(np.int64)
    return pd.Series(dict(previous), dtype=np.int64)


def _change(now: pd.Series, before: pd.Series) -> pd.Series:
    delta = now - before.reindex(now.index, fill_value=0).astype(np.int64)
    sign = np.where(delta > 0, "+", "")
    return pd.Series(sign, index=now.index, dtype="str") + delta.astype("str")


def render_markdown(
    drift: pd.DataFrame,
    previous_counts: pd.DataFrame | Mapping[str, int] | None = None,
    oldest_n: int = 10,
) -> str:
    """Markdown: counts by kind and severity, change since the previous run, oldest items.

    ``previous_counts`` is the previous night's :func:`summarize` frame (or kind -> total).
    """
    counts = summarize(drift)
    total = counts.sum()
    lines = ["# Returns drift report", ""]
    if drift.empty:
        lines += ["No drift: Returnly, AMS and the ledger agree.", ""]
    else:
        by_severity = ", ".join(f"{total[s]} {s}" for s in _MOST_SEVERE_FIRST)
        returns = drift[["merchant", "customer_identifier"]].drop_duplicates().shape[0]
        healable = int(drift["healable"].sum())
        lines += [
            f"**{int(total['total'])} drift rows** on {returns} returns ({by_severity}); "
            f"{healable} healable.",
            "",
        ]
    table = counts.reset_index()
    table.loc[len(table)] = ["**total**", *total.tolist()]
    align = "|---|" + "---:|" * len(_MOST_SEVERE_FIRST) + "---:|"
    if previous_counts is not None:
        before = _totals(previous_counts)
        now_totals = pd.Series(
            table["total"].to_numpy(dtype=np.int64), index=table["kind"].to_numpy()
        )
        before = before.reindex(now_totals.index[:-1], fill_value=0)
        before.loc["**total**"] = int(_totals(previous_counts).sum())
        table["change"] = _change(now_totals, before).to_numpy()
        align += "---:|"
    lines += ["## Counts by kind and severity", "", *table_lines(table, align), ""]
    if previous_counts is None:
        lines += ["_No previous report to compare with._", ""]
    lines += oldest_items(drift, oldest_n)
    return "\n".join(lines).rstrip("\n") + "\n"


def oldest_items(drift: pd.DataFrame, oldest_n: int) -> list[str]:
    """The oldest drift rows as a markdown section (with since when and why, once triaged)."""
    if drift.empty or oldest_n <= 0:
        return []
    order = pd.DataFrame(
        {
            "age": -drift["age_hours"].fillna(-np.inf).to_numpy(),
            "severity": -drift["severity"].cat.codes.to_numpy(dtype=np.int64),
            "merchant": drift["merchant"].to_numpy(),
            "customer_identifier": drift["customer_identifier"].to_numpy(),
            "kind": drift["kind"].cat.codes.to_numpy(dtype=np.int64),
        }
    ).sort_values(["age", "severity", "merchant", "customer_identifier", "kind"], kind="stable")
    top = drift.iloc[order.index.to_numpy()[:oldest_n]]
    shown = pd.DataFrame(
        {
            "age (days)": tenths(top["age_days"]).to_numpy(),
            "severity": top["severity"].astype("str"),
            "kind": top["kind"].astype("str"),
            "merchant": top["merchant"],
            "customer_identifier": top["customer_identifier"],
            "detail": top["detail"],
            "action": top["suggested_action"],
        }
    )
    align = "|---:|---|---|---|---|---|---|"
    if "first_seen" in top.columns:  # triaged (core.drift.triage): since when, and why
        shown.insert(1, "first seen", day_text(top["first_seen"]).to_numpy())
        shown.insert(len(shown.columns) - 1, "review exception", exception_label(top).to_numpy())
        align = "|---:|---|---|---|---|---|---|---|---|"
    title = f"## Oldest open items (top {min(oldest_n, len(drift))} of {len(drift)})"
    return [title, "", *table_lines(shown, align), ""]
