"""Counts and the markdown report; the text is checked against golden files.

``drift_report.md`` is the core report of a triaged night; ``nightly_report.md`` is the whole
markdown artifact (counts, triage, oldest items, refund speed, trends, healing). Regenerate
both with ``BRIDGE_UPDATE_GOLDEN=1 pytest tests/unit/drift/test_report.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped]

from core.drift import KINDS, classify, render_markdown, summarize
from core.drift.triage import Triage, triage
from core.speed import refund_speed
from stages.budget import BudgetRow
from stages.reconcile import HealStep, Night, Tonight, Window, counts_of, report_markdown
from tests.unit.drift.builders import (
    NOW,
    ago,
    ams,
    ams_line,
    exception,
    exceptions,
    ledger,
    ledger_row,
    previous,
    received,
    refunded,
    returnly,
    returnly_line,
    seen,
)

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "golden"
GOLDEN = GOLDEN_DIR / "drift_report.md"
NIGHTLY_GOLDEN = GOLDEN_DIR / "nightly_report.md"
# Read at import: the autouse fixture strips BRIDGE_* variables before each test runs.
UPDATE_GOLDEN = os.environ.get("BRIDGE_UPDATE_GOLDEN") == "1"


def _frames() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Eight drifting returns (one per kind found) and three clean refunded ones."""
    r = returnly(
        returnly_line("1", created_at=ago(days=3)),
        refunded("2", refunded_at=ago(days=6)),
        returnly_line("3", status="delivered"),
        returnly_line("4", status="canceled_by_merchant"),
        refunded("5", amount=31.0),
        returnly_line("6", status="in_transit", updated_at=ago(days=40)),
        returnly_line("7", sku="TEE|PIPE"),
        # Clean: authorized, RMA, received, refunded, at different speeds.
        refunded("10", created_at=ago(days=9), refunded_at=ago(days=2)),
        refunded("11", created_at=ago(days=5), refunded_at=ago(days=1, hours=12)),
        refunded("12", created_at=ago(days=4), refunded_at=ago(days=2, hours=20)),
    )
    a = ams(
        ams_line("WH-9", created_at=ago(days=12)),
        received("3", received_at=ago(days=4)),
        ams_line("4"),
        received("5"),
        ams_line("6", status="inTransit", updated_at=ago(days=40)),
        ams_line("7", sku="HAT-RED"),
        received("10", created_at=ago(days=9, minutes=-3), received_at=ago(days=4)),
        received("11", created_at=ago(days=5, hours=-2), received_at=ago(days=2)),
        received("12", created_at=ago(days=4, minutes=-40), received_at=ago(days=3)),
    )
    led = ledger(
        ledger_row("3", stage="received"),
        ledger_row("4"),
        ledger_row("5", stage="refunded", refunded=True),
        ledger_row("6", stage="in_transit"),
        ledger_row("7"),
        *(ledger_row(rid, stage="refunded", refunded=True) for rid in ("10", "11", "12")),
    )
    return r, a, led


def _night() -> pd.DataFrame:
    return classify(*_frames(), now=NOW)


def _triaged() -> Triage:
    """The night against four open exceptions and the previous night's report."""
    open_now = exceptions(
        exception(11, "mapping:missing_sku", "1"),  # explains authorized_no_rma
        exception(12, "cancel_after_shipped", "4"),  # explains status_mismatch
        exception(13, "held:policy_review", "2"),  # never explains money out
        exception(14, "rma_without_return", "WH-9"),  # explains orphan_rma
    )
    before = previous(
        seen("1", "authorized_no_rma", ago(days=2)),
        seen("6", "stuck_in_transit", ago(days=9)),
        seen("8", "received_not_refunded", ago(days=5), detail="received 1 unit(s)"),
        seen("5", "quantity_mismatch", ago(days=3), severity="high"),
    )
    return triage(_night(), open_now, before, now=NOW, previous_at=ago(days=1))


def _check_golden(path: Path, text: str) -> None:
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_summarize_counts_every_kind_and_severity() -> None:
    counts = summarize(_night())
    assert list(counts.index) == list(KINDS)
    assert list(counts.columns) == ["critical", "high", "medium", "low", "total"]
    assert counts.loc["refunded_not_received", "critical"] == 1
    assert counts.loc["stuck_in_transit", "medium"] == 1
    assert int(counts["total"].sum()) == len(_night())
    assert (counts.dtypes == "int64").all()


def test_render_markdown_matches_golden() -> None:
    previous_counts = {"authorized_no_rma": 3, "refunded_not_received": 1, "sku_mismatch": 0}
    text = render_markdown(_triaged().drift, previous_counts=previous_counts, oldest_n=10)
    _check_golden(GOLDEN, text)


def test_nightly_report_matches_golden() -> None:
    """The whole markdown artifact: refund speed and drift triage included."""
    r, a, _ = _frames()
    t = _triaged()
    speed = refund_speed(r, a)
    tonight = Night("2026-11-20", counts_of(t.drift).by_kind, speed.for_merchant("acme"))
    nights = [
        Night("2026-11-18", {"authorized_no_rma": 3, "orphan_rma": 1}),  # before refund speed
        Night(
            "2026-11-19",
            {"authorized_no_rma": 2, "received_not_refunded": 1, "stuck_in_transit": 1},
            {
                "authorize_to_rma": {"p50_h": 0.2, "p95_h": 1.5},
                "received_to_refund": {"p50_h": 30.0, "p95_h": 70.0},
                "authorize_to_refund": {"p50_h": 120.0, "p95_h": 150.0},
            },
        ),
        tonight,
    ]
    healing = [
        HealStep(
            kind="received_not_refunded",
            customer_identifier="RLY-3",
            return_id="3",
            ams_id="ams-3",
            action="completion",
        )
    ]
    text = report_markdown(
        Tonight(t, speed),
        merchant="acme",
        window=Window(now=NOW),
        previous={"authorized_no_rma": 3, "orphan_rma": 1},
        nights=nights,
        healing=healing,
        heal_mode="dry run (planned only, nothing changed)",
        folder=None,
        budget=[
            BudgetRow("acme", "ams", 850, 1000.0, "ams-acme", 40, 910),
            BudgetRow("acme", "returnly", 1200, 3600.0, "default", 25, 2000),
        ],
    )
    assert "| ams | 850 | 1000 | 85% | 40 | 910 | ams-acme | WARNING: last hour above 80% |" in text
    held = [line for line in text.splitlines() if "| RLY-1 |" in line]
    assert held and not any("Re-run intake" in line for line in held)  # held for its SKU
    _check_golden(NIGHTLY_GOLDEN, text)


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
