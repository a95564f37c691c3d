"""The report on disk, its markdown and the artifact rows (no sandbox, no Prefect)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped]

from core.drift import classify
from tasks.reconcile import (
    HealStep,
    Night,
    Window,
    markdown_chart,
    previous_counts,
    report_markdown,
    svg_chart,
    table_rows,
    trend,
    write_report,
)
from tests.unit.drift.builders import NOW, ago, ams, ledger, received, returnly, returnly_line

DAY = date(2026, 11, 20)


def _drift() -> pd.DataFrame:
    r = returnly(
        returnly_line("1", created_at=ago(days=2)),
        returnly_line("2", status="refunded", units_refunded=1, refund_amount=20.0),
        returnly_line("3", status="delivered", created_at=ago(days=9)),
    )
    a = ams(
        received(
            "2",
            units=1,
            status="open",
            quantity_received=0,
            units_sellable=0,
            units_non_sellable=0,
            received_at=pd.NaT,
        ),
        received("3", received_at=ago(days=5)),
    )
    return classify(r, a, ledger(), now=NOW)


def _healing() -> list[HealStep]:
    return [
        HealStep(
            kind="authorized_no_rma",
            customer_identifier="RLY-1",
            return_id="1",
            action="intake",
            outcome="created",
        ),
        HealStep(
            kind="received_not_refunded",
            customer_identifier="RLY-3",
            return_id="3",
            ams_id="ams-3",
            action="completion",
            outcome="planned",
        ),
    ]


def test_report_files_round_trip(tmp_path: Path) -> None:
    drift = _drift()
    assert set(drift["kind"].astype("str")) == {
        "authorized_no_rma",
        "refunded_not_received",
        "received_not_refunded",
    }
    folder = write_report(
        drift, _healing(), root=tmp_path, merchant="acme", day=DAY, window=Window(now=NOW)
    )
    assert folder == tmp_path / "acme" / "2026-11-20"
    parquet = pd.read_parquet(folder / "drift.parquet")
    assert len(parquet) == len(drift) == 3
    assert str(parquet["since"].dtype).startswith("datetime64") and parquet["since"].dt.tz
    assert dict(zip(parquet["customer_identifier"], parquet["heal"], strict=True)) == {
        "RLY-1": "intake: created",
        "RLY-2": "",
        "RLY-3": "completion: planned",
    }
    csv = pd.read_csv(folder / "drift.csv")
    assert csv["kind"].tolist() == drift["kind"].astype("str").tolist()
    assert csv["since"].str.endswith("+00:00").all()
    counts = json.loads((folder / "counts.json").read_text())
    assert counts["total"] == 3 and counts["by_severity"]["critical"] == 1
    assert counts["by_kind"]["orphan_rma"] == 0 and len(counts["by_kind"]) == 10
    assert json.loads((folder / "healing.json").read_text())[0]["outcome"] == "created"
    assert (folder / "trend.svg").read_text().startswith("<svg")


def test_previous_night_and_trend_come_from_earlier_reports(tmp_path: Path) -> None:
    drift = _drift()
    for days_back, rows in ((3, drift.head(1)), (1, drift.head(2)), (0, drift)):
        write_report(
            rows,
            [],
            root=tmp_path,
            merchant="acme",
            day=DAY - timedelta(days=days_back),
            window=Window(now=NOW),
        )
    (tmp_path / "acme" / "not-a-date").mkdir()
    previous = previous_counts(tmp_path, "acme", DAY)
    assert previous is not None and len(previous) == 10
    two = drift.head(2)["kind"].astype("str").tolist()
    assert {k: v for k, v in previous.items() if v} == dict.fromkeys(two, 1)
    assert previous_counts(tmp_path, "acme", DAY - timedelta(days=3)) is None
    nights = trend(tmp_path, "acme", DAY)
    assert [n.day for n in nights] == ["2026-11-17", "2026-11-19", "2026-11-20"]
    assert [n.total for n in nights] == [1, 2, 3]
    assert [n.day for n in trend(tmp_path, "acme", DAY, nights=2)] == ["2026-11-19", "2026-11-20"]


def test_markdown_has_counts_change_trend_and_healing(tmp_path: Path) -> None:
    drift = _drift()
    nights = [
        Night("2026-11-19", {"authorized_no_rma": 2}),
        Night(
            "2026-11-20",
            {"authorized_no_rma": 1, "refunded_not_received": 1, "received_not_refunded": 1},
        ),
    ]
    text = report_markdown(
        drift,
        merchant="acme",
        window=Window(now=NOW),
        previous={"authorized_no_rma": 2},
        nights=nights,
        healing=_healing(),
        heal_mode="applied",
        folder=tmp_path,
    )
    assert text.startswith("# Returns drift report: acme\n")
    assert "| **total** | 1 | 0 | 2 | 0 | 3 | +1 |" in text  # change since the previous night
    assert "## Drift by kind over the last nights" in text
    assert "| authorized_no_rma | `█▅` | 1 |" in text
    assert (
        "Mode: **applied**." in text
        and "| 1 | RLY-1 | authorized_no_rma | intake | created |" in text
    )
    assert f"`{tmp_path / 'drift.parquet'}`" in text


def test_chart_renders_every_kind_and_survives_no_history() -> None:
    assert markdown_chart([]) == "_No nights recorded yet._\n"
    chart = markdown_chart([Night("2026-11-20", {})])
    assert chart.count("\n| ") == 12 and "| **total** | `▁` | **0** | |" in chart
    svg = svg_chart([Night("2026-11-19", {"orphan_rma": 3}), Night("2026-11-20", {})])
    assert svg.count("<rect") == 1 + 1 + 10  # background, one bar segment, legend
    assert "orphan_rma: 3" in svg


def test_table_rows_are_json_ready_and_capped() -> None:
    drift = _drift()
    rows = table_rows(drift, _healing(), limit=2)
    assert len(rows) == 2
    json.dumps(rows)  # no Timestamp, NA or numpy scalar left
    first = rows[0]
    assert first["severity"] == "critical" and first["kind"] == "refunded_not_received"
    assert first["since"].endswith("+00:00") and isinstance(first["age_days"], float)
    assert first["ams_id"] == "ams-2" and first["heal"] == ""
    assert list(first) == [
        "severity",
        "kind",
        "age_days",
        "since",
        "customer_identifier",
        "return_id",
        "ams_id",
        "detail",
        "suggested_action",
        "healable",
        "heal",
    ]
