"""Refund speed: how long a shopper waits, from the reconciliation's own frames (pure pandas).

Every instant comes from a system of record, read from the frames the reconciliation already
builds (no extra API call, no ledger read):

- **authorized**: Returnly's ``created_at`` of the return. Returnly records no separate
  authorization time; most returns are created authorized, and for one requested first this
  also counts the merchant's approval.
- **RMA created**: AMS's ``created_at`` of the RMA (the earliest, if there are several).
- **received**: AMS's ``received_at`` of the RMA (the earliest).
- **refunded**: Returnly's ``refunded_at``, else its latest refund's ``created_at`` (as the
  Returnly frame carries it).

The ledger's stage events are not used: they record when the bridge *saw* a step (after a
webhook, a callback or a poll), which adds the bridge's own delays to the shopper's wait.
A span whose end is missing is not counted; one whose end precedes its start (clock skew,
a backdated record) is not counted either, and is reported as ``skipped``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NamedTuple

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from core.drift.frames import AMS_LINES, RETURNLY_LINES, validate_frame
from core.drift.text import tenths


class Span(NamedTuple):
    """One measured wait: from one instant of the timeline to another."""

    name: str
    label: str
    start: str
    end: str


SPANS: Final[tuple[Span, ...]] = (
    Span("authorize_to_rma", "authorize → RMA created", "authorized_at", "rma_created_at"),
    Span("received_to_refund", "received → refunded", "received_at", "refunded_at"),
    Span("authorize_to_refund", "authorize → refunded", "authorized_at", "refunded_at"),
)
SPAN_NAMES: Final = tuple(s.name for s in SPANS)
SLOWEST_BY: Final = "authorize_to_refund"
"""The ten slowest returns are the longest authorize → refunded waits."""
SLOWEST_N: Final = 10
QUANTILES: Final = (0.5, 0.95)
"""p50 and p95, linearly interpolated (numpy's default method)."""
_HOUR: Final = pd.Timedelta(hours=1)
_TIMES: Final = ("authorized_at", "rma_created_at", "received_at", "refunded_at")


@dataclass(frozen=True, slots=True)
class RefundSpeed:
    """Per merchant and span: returns counted, skipped, p50, p95, max (hours); the slowest."""

    stats: pd.DataFrame
    """Columns merchant, span, returns, skipped, p50_h, p95_h, max_h; every span per merchant."""
    slowest: pd.DataFrame
    """The slowest returns: merchant, customer_identifier, return_id, the instants, the spans."""

    def for_merchant(self, merchant: str) -> dict[str, dict[str, float | int | None]]:
        """One merchant's stats by span name (JSON-ready; ``None`` where nothing was counted)."""
        mine = self.stats[self.stats["merchant"].to_numpy() == merchant]
        out: dict[str, dict[str, float | int | None]] = {}
        for span in SPANS:
            row = mine[mine["span"].to_numpy() == span.name]
            if row.empty:
                out[span.name] = {"returns": 0, "skipped": 0, "p50_h": None, "p95_h": None}
                out[span.name]["max_h"] = None
                continue
            values = row.iloc[0]
            out[span.name] = {
                "returns": int(values["returns"]),
                "skipped": int(values["skipped"]),
                **{
                    k: None if pd.isna(values[k]) else round(float(values[k]), 4)
                    for k in ("p50_h", "p95_h", "max_h")
                },
            }
        return out


def timeline(returnly_lines: pd.DataFrame, ams_lines: pd.DataFrame) -> pd.DataFrame:
    """One row per Returnly return: its identity, ``ams_id`` and the four instants."""
    validate_frame(returnly_lines, RETURNLY_LINES, "returnly")
    validate_frame(ams_lines, AMS_LINES, "ams")
    key = ["merchant", "customer_identifier"]
    returns = returnly_lines.drop_duplicates(key, keep="first")[
        [*key, "return_id", "created_at", "refunded_at"]
    ].rename(columns={"created_at": "authorized_at"})
    rmas = (
        ams_lines.groupby(key, sort=False, observed=True)
        .agg(
            ams_id=("ams_id", "first"),
            rma_created_at=("created_at", "min"),
            received_at=("received_at", "min"),
        )
        .reset_index()
    )
    out = returns.merge(rmas, on=key, how="left", validate="1:1")
    return out[[*key, "return_id", "ams_id", *_TIMES]].reset_index(drop=True)


def span_hours(line: pd.DataFrame) -> pd.DataFrame:
    """Hours of each span per return (NaN: not finished, or its end precedes its start)."""
    return pd.DataFrame(
        {s.name: ((line[s.end] - line[s.start]) / _HOUR).astype(np.float64) for s in SPANS},
        index=line.index,
    )


def _stats(line: pd.DataFrame, hours: pd.DataFrame) -> pd.DataFrame:
    merchants = pd.Index(sorted(line["merchant"].unique()), dtype="str")
    grid = pd.MultiIndex.from_product([merchants, list(SPAN_NAMES)], names=["merchant", "span"])
    long = pd.concat(
        {s: pd.DataFrame({"merchant": line["merchant"], "hours": hours[s]}) for s in SPAN_NAMES},
        names=["span", None],
    ).reset_index(level="span")
    negative = long["hours"].to_numpy() < 0
    skipped = long[negative].groupby(["merchant", "span"]).size()
    kept = long[long["hours"].notna().to_numpy() & ~negative]
    g = kept.groupby(["merchant", "span"])["hours"]
    low, high = QUANTILES
    stats = pd.DataFrame(
        {
            "returns": g.size(),
            "skipped": skipped,
            "p50_h": g.quantile(low),
            "p95_h": g.quantile(high),
            "max_h": g.max(),
        }
    ).reindex(grid)
    stats[["returns", "skipped"]] = stats[["returns", "skipped"]].fillna(0).astype(np.int64)
    return stats.reset_index()


def refund_speed(
    returnly_lines: pd.DataFrame, ams_lines: pd.DataFrame, slowest_n: int = SLOWEST_N
) -> RefundSpeed:
    """The refund speed of the returns in these frames (see the module docstring)."""
    line = timeline(returnly_lines, ams_lines)
    hours = span_hours(line)
    stats = _stats(line, hours)
    hours = hours.where(hours >= 0)
    done = pd.concat([line, hours], axis=1)
    done = done[done[SLOWEST_BY].notna().to_numpy()]
    slowest = (
        done.nlargest(slowest_n, SLOWEST_BY, keep="all")
        .sort_values(
            [SLOWEST_BY, "merchant", "customer_identifier"],
            ascending=[False, True, True],
            kind="stable",
        )
        .head(slowest_n)
        .reset_index(drop=True)
    )
    return RefundSpeed(stats=stats, slowest=slowest)


def duration_text(hours: pd.Series | np.ndarray) -> pd.Series:
    """Durations for people: "45 min", "5.2 h" (under two days), "3.4 d"; NaN is "n/a"."""
    h = np.asarray(hours, dtype=np.float64)
    known = ~np.isnan(h)
    safe = np.where(known, h, 0.0)
    minutes = pd.Series(np.rint(safe * 60).astype(np.int64)).astype("str") + " min"
    in_hours = tenths(safe) + " h"
    in_days = tenths(safe / 24) + " d"
    text = in_days.where(safe >= 48, in_hours.where(safe >= 1, minutes))
    return text.where(known, "n/a").astype("str")
