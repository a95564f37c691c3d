"""Counts and the markdown report; the text is checked against a golden file.

Regenerate the golden file with ``BRIDGE_UPDATE_GOLDEN=1 pytest tests/unit/drift``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped]

from core.drift import KINDS, classify, render_markdown, summarize
from tests.unit.drift.builders import (
    NOW,
    ago,
    ams,
    ams_line,
    ledger,
    ledger_row,
    received,
    refunded,
    returnly,
    returnly_line,
)

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "drift_report.md"
# Read at import: the autouse fixture strips BRIDGE_* variables before each test runs.
UPDATE_GOLDEN = os.environ.get("BRIDGE_UPDATE_GOLDEN") == "1"


def _night() -> pd.DataFrame:
    r = returnly(
        returnly_line("1", created_at=ago(days=3)),
        refunded("2", refunded_at=ago(days=6)),
        returnly_line("3", status="delivered"),
        returnly_line("4", status="canceled_by_merchant"),
        refunded("5", amount=31.0),
        returnly_line("6", status="in_transit", updated_at=ago(days=40)),
        returnly_line("7", sku="TEE|PIPE"),
    )
    a = ams(
        ams_line("WH-9", created_at=ago(days=12)),
        received("3", received_at=ago(days=4)),
        ams_line("4"),
        received("5"),
        ams_line("6", status="inTransit", updated_at=ago(days=40)),
        ams_line("7", sku="HAT-RED"),
    )
    led = ledger(
        ledger_row("3", stage="received"),
        ledger_row("4"),
        ledger_row("5", stage="refunded", refunded=True),
        ledger_row("6", stage="in_transit"),
        ledger_row("7"),
    )
    return classify(r, a, led, now=NOW)


def test_summarize_counts_every_kind_and_severity() -> None:
    counts = summarize(_night())
    assert list(counts.index) == list(KINDS)
    assert list(counts.columns) == ["critical", "high", "medium", "low", "total"]
    assert counts.loc["refunded_not_received", "critical"] == 1
    assert counts.loc["stuck_in_transit", "medium"] == 1
    assert int(counts["total"].sum()) == len(_night())
    assert (counts.dtypes == "int64").all()


def test_render_markdown_matches_golden() -> None:
    previous = {"authorized_no_rma": 3, "refunded_not_received": 1, "sku_mismatch": 0}
    text = render_markdown(_night(), previous_counts=previous, oldest_n=10)
    if UPDATE_GOLDEN:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_render_markdown_is_deterministic_and_accepts_a_summary_as_previous() -> None:
    drift = _night()
    shuffled = drift.sample(frac=1.0, random_state=5)
    previous = summarize(drift)
    assert render_markdown(shuffled, previous) == render_markdown(drift, previous)
    assert "| **total** | 1 | 1 | 6 | 0 | 8 | 0 |" in render_markdown(drift, previous)


def test_render_markdown_of_a_clean_night() -> None:
    text = render_markdown(classify(returnly(), ams(), ledger(), now=NOW))
    assert "No drift: Returnly, AMS and the ledger agree." in text
    assert "Oldest open items" not in text
    assert "_No previous report to compare with._" in text
