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


def _identity_codes(
    returnly_lines: pd.DataFrame, ams_lines: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """One int64 code per (merchant, customer_identifier), shared by both sides' lines."""
    n = len(returnly_lines)
    merchant = pd.concat([returnly_lines["merchant"], ams_lines["merchant"]], ignore_index=True)
    identity = pd.concat(
        [returnly_lines["customer_identifier"], ams_lines["customer_identifier"]],
        ignore_index=True,
    )
    m_codes, _ = pd.factorize(merchant)
    i_codes, identities = pd.factorize(identity)
    codes = m_codes.astype(np.int64) * max(len(identities), 1) + i_codes
    return codes[:n], codes[n:]


def timeline(returnly_lines: pd.DataFrame, ams_lines: pd.DataFrame) -> pd.DataFrame:
    """One row per Returnly return: its identity, ``ams_id`` and the four instants."""
    validate_frame(returnly_lines, RETURNLY_LINES, "returnly")
    validate_frame(ams_lines, AMS_LINES, "ams")
    r_codes, a_codes = _identity_codes(returnly_lines, ams_lines)
    _, first = np.unique(r_codes, return_index=True)
    order = np.sort(first)  # one line per return, in Returnly's order
    codes = r_codes[order]
    returns = returnly_lines.iloc[order]
    rmas = (
        pd.DataFrame(
            {
                "code": a_codes,
                "ams_id": ams_lines["ams_id"].array,
                "rma_created_at": ams_lines["created_at"].array,
                "received_at": ams_lines["received_at"].array,
            }
        )
        .groupby("code", sort=True)
        .agg(
            ams_id=("ams_id", "first"),
            rma_created_at=("rma_created_at", "min"),
            received_at=("received_at", "min"),
        )
    )
    found = rmas.reindex(codes)  # NaN / NaT where the return has no RMA
    out = pd.DataFrame(
        {
            "merchant": returns["merchant"].array,
            "customer_identifier": returns["customer_identifier"].array,
            "return_id": returns["return_id"].array,
            "ams_id": found["ams_id"].array,
            "authorized_at": returns["created_at"].array,
            "rma_created_at": found["rma_created_at"].array,
            "received_at": found["received_at"].array,
            "refunded_at": returns["refunded_at"].array,
        }
    )
    text = {"merchant": "str", "customer_identifier": "str", "return_id": "str", "ams_id": "str"}
    times = dict.fromkeys(_TIMES, "datetime64[ns, UTC]")
    return out.astype({**text, **times})


def span_hours(line: pd.DataFrame) -> pd.DataFrame:
    """Hours of each span per return (NaN: not finished; negative: its end precedes its start)."""
    return pd.DataFrame(
        {s.name: ((line[s.end] - line[s.start]) / _HOUR).astype(np.float64) for s in SPANS},
        index=line.index,
    )


def _stats(line: pd.DataFrame, hours: pd.DataFrame) -> pd.DataFrame:
    """Per merchant (sorted) and span: counted, skipped, p50, p95, max; a loop over spans only."""
    m_codes, merchants = pd.factorize(line["merchant"], sort=True)
    low, high = QUANTILES
    parts = []
    for span in SPANS:
        h = hours[span.name].to_numpy(dtype=np.float64)
        backwards = h < 0
        counted = ~np.isnan(h) & ~backwards
        g = pd.Series(h[counted]).groupby(m_codes[counted])
        every = pd.RangeIndex(len(merchants))
        parts.append(
            pd.DataFrame(
                {
                    "merchant": pd.Series(merchants, dtype="str").to_numpy(),
                    "span": span.name,
                    "returns": np.bincount(m_codes[counted], minlength=len(merchants)),
                    "skipped": np.bincount(m_codes[backwards], minlength=len(merchants)),
                    "p50_h": g.quantile(low).reindex(every).to_numpy(),
                    "p95_h": g.quantile(high).reindex(every).to_numpy(),
                    "max_h": g.max().reindex(every).to_numpy(),
                }
            )
        )
    stats = pd.concat(parts, ignore_index=True)
    order = np.lexsort((stats["span"].map(SPAN_NAMES.index).to_numpy(), stats["merchant"]))
    out = stats.iloc[order].reset_index(drop=True)
    return out.astype({"merchant": "str", "span": "str", "returns": np.int64, "skipped": np.int64})


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
