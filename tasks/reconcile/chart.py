"""Drift by kind over the last nights, dependency-free: a markdown chart and an SVG.

The markdown version renders anywhere (Prefect UI markdown artifacts, a terminal); the SVG is
written next to the report and published as an image artifact (a ``data:`` URL).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

from core.drift import KINDS

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


@dataclass(frozen=True, slots=True)
class Night:
    """One night's counts per kind (``day`` as YYYY-MM-DD)."""

    day: str
    by_kind: dict[str, int]

    @property
    def total(self) -> int:
        """All drift rows that night."""
        return sum(self.by_kind.values())


def sparkline(values: Sequence[int]) -> str:
    """One tick per value, scaled to the largest (all zero: the lowest tick)."""
    top = max(values, default=0)
    if top <= 0:
        return TICKS[0] * len(values)
    return "".join(TICKS[round(v / top * (len(TICKS) - 1))] for v in values)


def markdown_chart(nights: Sequence[Night]) -> str:
    """A table per kind: trend over the nights, tonight's count and a bar."""
    if not nights:
        return "_No nights recorded yet._\n"
    tonight = nights[-1]
    top = max(tonight.by_kind.values(), default=0)
    span = f"{nights[0].day} → {tonight.day}" if len(nights) > 1 else tonight.day
    lines = [
        f"Trend over {len(nights)} night(s), {span}.",
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


def svg_chart(nights: Sequence[Night], title: str = "Drift by kind") -> str:
    """Stacked bars (one per night, one colour per kind) with a legend, as SVG text."""
    bar, gap, plot_h, left, top_pad = 28, 12, 180, 40, 30
    legend_w = 190
    width = left + max(len(nights), 1) * (bar + gap) + gap + legend_w
    height = top_pad + plot_h + 40
    peak = max((n.total for n in nights), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{left}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - legend_w}" '
        f'y2="{top_pad + plot_h}" stroke="#999"/>',
        f'<text x="{left - 6}" y="{top_pad + 4}" text-anchor="end">{peak}</text>',
        f'<text x="{left - 6}" y="{top_pad + plot_h}" text-anchor="end">0</text>',
    ]
    for i, night in enumerate(nights):
        x = left + gap + i * (bar + gap)
        y = float(top_pad + plot_h)
        for k, kind in enumerate(KINDS):
            count = night.by_kind.get(kind, 0)
            if count <= 0:
                continue
            h = count / peak * plot_h
            y -= h
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" '
                f'fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(kind)}: {count}</title></rect>'
            )
        parts.append(
            f'<text x="{x + bar / 2}" y="{top_pad + plot_h + 14}" text-anchor="middle">'
            f"{escape(night.day[5:])}</text>"
        )
    lx = width - legend_w + 10
    for k, kind in enumerate(KINDS):
        ly = top_pad + k * 16
        parts.append(
            f'<rect x="{lx}" y="{ly}" width="10" height="10" fill="{PALETTE[k % len(PALETTE)]}"/>'
        )
        parts.append(f'<text x="{lx + 14}" y="{ly + 9}">{escape(kind)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def svg_data_url(svg: str) -> str:
    """The SVG as a ``data:`` URL (for an image artifact)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
