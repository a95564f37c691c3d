"""Refund speed of the nightly reconciliation (pure pandas, no I/O).

:func:`refund_speed` over the Returnly and AMS frames, then :func:`render_speed` for the report.
"""

from core.speed.measure import (
    QUANTILES,
    SLOWEST_BY,
    SLOWEST_N,
    SPAN_NAMES,
    SPANS,
    RefundSpeed,
    Span,
    duration_text,
    refund_speed,
    span_hours,
    timeline,
)
from core.speed.report import SOURCES, render_speed

__all__ = [
    "QUANTILES",
    "SLOWEST_BY",
    "SLOWEST_N",
    "SOURCES",
    "SPANS",
    "SPAN_NAMES",
    "RefundSpeed",
    "Span",
    "duration_text",
    "refund_speed",
    "render_speed",
    "span_hours",
    "timeline",
]
