"""Drift classification of the nightly reconciliation (pure pandas, no I/O).

Build the three frames (:mod:`core.drift.frames`), call :func:`classify`, then
:func:`summarize` / :func:`render_markdown` for the report.
"""

from core.drift.classify import KIND_DTYPE, SEVERITY_DTYPE, classify
from core.drift.frames import (
    AMS_LINES,
    DRIFT,
    LEDGER,
    RETURNLY_LINES,
    FrameSchemaError,
    coerce_frame,
    empty_frame,
    validate_frame,
)
from core.drift.hits import SEVERITIES
from core.drift.report import oldest_items, render_markdown, summarize
from core.drift.rules import KINDS, RULES, Rule
from core.drift.thresholds import DriftThresholds, MerchantThresholds, damaged_refund_fraction

__all__ = [
    "AMS_LINES",
    "DRIFT",
    "KINDS",
    "KIND_DTYPE",
    "LEDGER",
    "RETURNLY_LINES",
    "RULES",
    "SEVERITIES",
    "SEVERITY_DTYPE",
    "DriftThresholds",
    "FrameSchemaError",
    "MerchantThresholds",
    "Rule",
    "classify",
    "coerce_frame",
    "damaged_refund_fraction",
    "empty_frame",
    "oldest_items",
    "render_markdown",
    "summarize",
    "validate_frame",
]
