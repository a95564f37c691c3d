"""The report's charts over the nights kept: drift by kind, refund speed p50/p95.

Two forms of each: a markdown table with sparklines (renders anywhere: Prefect UI markdown
artifacts, a terminal) and a PNG drawn by matplotlib's Agg backend (no display, no browser),
written next to the report and published as an image artifact (a ``data:`` URL). Figures are
built as ``Figure`` objects, never through ``pyplot``, so no global state is shared between
the flow's threads.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Final

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from core.drift import KINDS
from core.speed import SPANS
from stages.reconcile.history import Night

TICKS: Final = "▁▂▃▄▅▆▇█"
BAR_WIDTH: Final = 24
PALETTE: Final = (
    "#b91c1c",
    "#ea580c",
    "#d97706",
    "#65a30d",
    "#0891b2",
    "#2563eb",
    "#7c3aed",
    "#db2777",
    "#57534e",
    "#0f766e",
)
FIGSIZE: Final = (9.0, 3.8)
DPI: Final = 100
MIN_HOURS: Final = 1 / 60
"""Speeds below a minute are drawn at a minute (the speed chart's axis is logarithmic)."""
HOUR_TICKS: Final = ((1 / 60, "1 min"), (1.0, "1 h"), (24.0, "1 d"), (168.0, "1 w"), (720, "30 d"))


def sparkline(values: Sequence[float | None]) -> str:
    """One tick per value, scaled to the largest (all zero: the lowest tick; missing: a space)."""
    known = [v for v in values if v is not None and not math.isnan(v)]
    top = max(known, default=0)
    if top <= 0:
        return "".join(" " if v is None else TICKS[0] for v in values)
    return "".join(
        " " if v is None or math.isnan(v) else TICKS[round(v / top * (len(TICKS) - 1))]
        for v in values
    )


def _span_of(nights: Sequence[Night]) -> str:
    return f"{nights[0].day} → {nights[-1].day}" if len(nights) > 1 else nights[-1].day


def markdown_chart(nights: Sequence[Night]) -> str:
    """A table per kind: trend over the nights, tonight's count and a bar."""
    if not nights:
        return "_No nights recorded yet._\n"
    tonight = nights[-1]
    top = max(tonight.by_kind.values(), default=0)
    lines = [
        f"Trend over {len(nights)} night(s), {_span_of(nights)}.",
        "",
        "| kind | trend | tonight | chart |",
        "|---|---|---:|---|",
    ]
    for kind in KINDS:
        series = [n.by_kind.get(kind, 0) for n in nights]
        now = series[-1]
        width = round(now / top * BAR_WIDTH) if top else 0
        bar = "█" * max(width, 1 if now else 0)
        lines.append(f"| {kind} | `{sparkline(series)}` | {now} | {bar} |")
    totals = [n.total for n in nights]
    lines.append(f"| **total** | `{sparkline(totals)}` | **{totals[-1]}** | |")
    return "\n".join(lines) + "\n"


def speed_series(nights: Sequence[Night], span: str, stat: str) -> list[float | None]:
    """One stat (``p50_h``, ``p95_h``...) of one span over the nights (``None``: not measured)."""
    out: list[float | None] = []
    for night in nights:
        value = night.speed.get(span, {}).get(stat)
        out.append(None if value is None else float(value))
    return out


def _hours(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value < 1:
        return f"{round(value * 60)} min"
    return f"{value:.1f} h" if value < 48 else f"{value / 24:.1f} d"


def markdown_speed_chart(nights: Sequence[Night]) -> str:
    """A table per span: p50 and p95 over the nights, and tonight's values."""
    if not nights:
        return "_No nights recorded yet._\n"
    lines = [
        f"Trend over {len(nights)} night(s), {_span_of(nights)}.",
        "",
        "| span | p50 trend | p50 tonight | p95 trend | p95 tonight |",
        "|---|---|---:|---|---:|",
    ]
    for span in SPANS:
        p50 = speed_series(nights, span.name, "p50_h")
        p95 = speed_series(nights, span.name, "p95_h")
        lines.append(
            f"| {span.label} | `{sparkline(p50)}` | {_hours(p50[-1])} | "
            f"`{sparkline(p95)}` | {_hours(p95[-1])} |"
        )
    return "\n".join(lines) + "\n"


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})  # Agg, no display
    return buffer.getvalue()


def drift_chart_png(nights: Sequence[Night], title: str = "Drift by kind") -> bytes:
    """Stacked bars (one per night, one colour per kind) with a legend, as PNG bytes."""
    figure = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    ax = figure.add_subplot()
    days = [n.day[5:] for n in nights]
    base = [0] * len(nights)
    for k, kind in enumerate(KINDS):
        counts = [n.by_kind.get(kind, 0) for n in nights]
        ax.bar(days, counts, bottom=base, label=kind, color=PALETTE[k % len(PALETTE)], width=0.7)
        base = [b + c for b, c in zip(base, counts, strict=True)]
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
    ax.set_ylabel("drift rows")
    ax.spines[["top", "right"]].set_visible(False)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if not nights:
        ax.text(0.5, 0.5, "no nights recorded yet", ha="center", transform=ax.transAxes)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return _png(figure)


def speed_chart_png(nights: Sequence[Night], title: str = "Refund speed") -> bytes:
    """p50 (solid) and p95 (dashed) of every span over the nights, log hours, as PNG bytes."""
    figure = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    ax = figure.add_subplot()
    days = [n.day[5:] for n in nights]
    drawn = False
    for k, span in enumerate(SPANS):
        colour = PALETTE[(k * 3 + 5) % len(PALETTE)]
        for stat, style in (("p50_h", "-"), ("p95_h", "--")):
            series = speed_series(nights, span.name, stat)
            values = [math.nan if v is None else max(v, MIN_HOURS) for v in series]
            if all(math.isnan(v) for v in values):
                continue
            ax.plot(
                days,
                values,
                linestyle=style,
                marker="o",
                markersize=3,
                color=colour,
                label=f"{span.label} {stat[:3]}",
            )
            drawn = True
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
    ax.spines[["top", "right"]].set_visible(False)
    if drawn:
        ax.set_ylabel("wait (log scale)")
        ax.set_yscale("log")
        ax.set_yticks([h for h, _ in HOUR_TICKS], [label for _, label in HOUR_TICKS])
        ax.set_ylim(MIN_HOURS / 2, HOUR_TICKS[-1][0] * 2)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    else:
        ax.set_xticks(range(len(days)), days)
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no refund measured yet", ha="center", transform=ax.transAxes)
    return _png(figure)


def png_data_url(png: bytes) -> str:
    """PNG bytes as a ``data:`` URL (for an image artifact)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
