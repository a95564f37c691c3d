"""The refund-speed section of the nightly report (deterministic: checked against a golden file)."""

from __future__ import annotations

from typing import Final

import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from core.drift.text import table_lines
from core.speed.measure import SLOWEST_BY, SPANS, RefundSpeed, duration_text

SOURCES: Final = (
    "Instants from the systems of record: authorized = Returnly's `created_at` (Returnly keeps "
    "no separate authorization time; a return requested first also counts its approval), "
    "RMA created = AMS's `created_at`, received = AMS's `received_at`, refunded = Returnly's "
    "`refunded_at` (else its latest refund's `created_at`). Not the ledger's stage events: they "
    "are when the bridge saw each step. Unfinished spans are not counted; `skipped` ones end "
    "before they start (clock skew)."
)
_LABELS: Final = {s.name: s.label for s in SPANS}


def _minute(stamps: pd.Series) -> pd.Series:
    text = pd.Series(stamps.dt.strftime("%Y-%m-%d %H:%M").to_numpy(), dtype="str")
    return text.fillna("n/a")


def _stats_table(speed: RefundSpeed) -> list[str]:
    s = speed.stats
    shown = pd.DataFrame(
        {
            "merchant": s["merchant"].to_numpy(),
            "span": s["span"].map(_LABELS).to_numpy(),
            "returns": s["returns"].astype("str").to_numpy(),
            "p50": duration_text(s["p50_h"]).to_numpy(),
            "p95": duration_text(s["p95_h"]).to_numpy(),
            "max": duration_text(s["max_h"]).to_numpy(),
            "skipped": s["skipped"].astype("str").to_numpy(),
        }
    )
    return table_lines(shown, "|---|---|---:|---:|---:|---:|---:|")


def _slowest_table(speed: RefundSpeed) -> list[str]:
    top = speed.slowest
    title = f"### The {len(top)} slowest returns ({_LABELS[SLOWEST_BY]})"
    if top.empty:
        return [title, "", "_No refunded return in this window._"]
    shown = pd.DataFrame(
        {
            "merchant": top["merchant"].to_numpy(),
            "return": top["return_id"].to_numpy(),
            "customer_identifier": top["customer_identifier"].to_numpy(),
            "authorized (UTC)": _minute(top["authorized_at"]).to_numpy(),
            "refunded (UTC)": _minute(top["refunded_at"]).to_numpy(),
            **{s.label: duration_text(top[s.name]).to_numpy() for s in SPANS},
        }
    )
    return [title, "", *table_lines(shown, "|---|---|---|---|---|---:|---:|---:|")]


def render_speed(speed: RefundSpeed) -> str:
    """Markdown: where the instants come from, p50/p95/max per merchant and span, the slowest."""
    lines = ["## Refund speed", "", SOURCES, ""]
    if speed.stats.empty:
        lines += ["_No returns in this window._"]
    else:
        lines += [*_stats_table(speed), "", *_slowest_table(speed)]
    return "\n".join(lines).rstrip("\n") + "\n"
