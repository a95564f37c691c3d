"""The triage section of the nightly report (deterministic: checked against a golden file)."""

from __future__ import annotations

from typing import Final

import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from core.drift.hits import SEVERITIES
from core.drift.text import day_text, exception_label, table_lines, tenths
from core.drift.triage import Triage, bucket_table

SHOWN: Final = 10


def _headline(t: Triage) -> str:
    c = t.counts
    known = f"{c.explained} explained by an open review exception, {c.unexplained} unexplained."
    if t.previous_at is None:
        return f"First report: every row is new tonight. {known}"
    return (
        f"Against the previous report ({t.previous_at.isoformat()}): **{c.new} new tonight**, "
        f"{c.still_open} still open, {c.resolved} resolved since. {known}"
    )


def _buckets(drift: pd.DataFrame) -> list[str]:
    table = bucket_table(drift)
    total = table.sum()
    shown = table.reset_index(names="age (days)")
    shown.loc[len(shown)] = ["**total**", *total.tolist()]
    return table_lines(shown, "|---|---:|---:|---:|---:|")


def _new_rows(drift: pd.DataFrame, limit: int) -> list[str]:
    new = drift[(drift["triage"] == "new").to_numpy(dtype=bool)]
    if new.empty or limit <= 0:
        return []
    top = new.head(limit)
    shown = pd.DataFrame(
        {
            "severity": top["severity"].astype("str").to_numpy(),
            "kind": top["kind"].astype("str").to_numpy(),
            "customer_identifier": top["customer_identifier"].to_numpy(),
            "age (days)": tenths(top["age_days"]).to_numpy(),
            "review exception": exception_label(top).to_numpy(),
            "action": top["suggested_action"].to_numpy(),
        }
    )
    title = f"### New tonight (top {len(top)} of {len(new)}, most severe first)"
    return [title, "", *table_lines(shown, "|---|---|---|---:|---|---|"), ""]


def _resolved_rows(resolved: pd.DataFrame, limit: int) -> list[str]:
    if resolved.empty or limit <= 0:
        return []
    rank = pd.Series(resolved["severity"].astype("str").to_numpy())
    order = pd.DataFrame(
        {
            "severity": -rank.map({s: i for i, s in enumerate(SEVERITIES)}).fillna(-1).to_numpy(),
            "merchant": resolved["merchant"].to_numpy(),
            "customer_identifier": resolved["customer_identifier"].to_numpy(),
            "kind": resolved["kind"].astype("str").to_numpy(),
        }
    ).sort_values(["severity", "merchant", "customer_identifier", "kind"], kind="stable")
    top = resolved.iloc[order.index.to_numpy()[:limit]]
    shown = pd.DataFrame(
        {
            "severity": top["severity"].astype("str").to_numpy(),
            "kind": top["kind"].astype("str").to_numpy(),
            "customer_identifier": top["customer_identifier"].to_numpy(),
            "first seen": day_text(top["first_seen"]).to_numpy(),
            "last detail": top["detail"].to_numpy(),
        }
    )
    title = f"### Resolved since the previous report (top {len(top)} of {len(resolved)})"
    return [title, "", *table_lines(shown, "|---|---|---|---|---|"), ""]


def render_triage(t: Triage, shown: int = SHOWN) -> str:
    """Markdown: new / still open / resolved, explained or not, by age, then the rows."""
    lines = ["## Triage", "", _headline(t), ""]
    if len(t.drift):
        lines += [*_buckets(t.drift), ""]
    lines += _new_rows(t.drift, shown)
    lines += _resolved_rows(t.resolved, shown)
    return "\n".join(lines).rstrip("\n") + "\n"
