"""The report on disk, its markdown and the artifact rows (no sandbox, no Prefect)."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped]
from PIL import Image

from core.drift import classify
from core.drift.triage import triage
from core.speed import refund_speed
from stages.reconcile import (
    HealStep,
    Night,
    Tonight,
    Window,
    drift_chart_png,
    markdown_chart,
    markdown_speed_chart,
    previous_counts,
    previous_drift,
    report_markdown,
    speed_chart_png,
    table_rows,
    trend,
    write_report,
)
from tests.unit.drift.builders import (
    NOW,
    ago,
    ams,
    exception,
    exceptions,
    ledger,
    previous,
    received,
    returnly,
    returnly_line,
)

DAY = date(2026, 11, 20)
PNG = b"\x89PNG\r\n\x1a\n"


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
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
    return r, a


def _drift() -> pd.DataFrame:
    return classify(*_frames(), ledger(), now=NOW)


def _tonight(drift: pd.DataFrame | None = None, now: pd.Timestamp = NOW) -> Tonight:
    """Tonight's report inputs: no open exception, no previous night; speed of ``_frames``."""
    rows = _drift() if drift is None else drift
    t = triage(rows, exceptions(), previous(), now=now, previous_at=None)
    return Tonight(t, refund_speed(*_frames()))


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
        _tonight(drift), _healing(), root=tmp_path, merchant="acme", day=DAY, window=Window(now=NOW)
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
    assert counts["triage"] == {
        "new": 3,
        "still_open": 0,
        "resolved": 0,
        "explained": 0,
        "unexplained": 3,
    }
    assert counts["previous_report"] is None
    assert counts["refund_speed"]["authorize_to_rma"]["returns"] == 2
    assert set(parquet.columns) >= {"first_seen", "triage", "age_bucket", "exception_id"}
    assert csv["first_seen"].str.endswith("+00:00").all()
    assert json.loads((folder / "healing.json").read_text())[0]["outcome"] == "created"
    assert (folder / "trend.png").read_bytes().startswith(PNG)
    assert (folder / "speed.png").read_bytes().startswith(PNG)
    assert list(pd.read_csv(folder / "slowest.csv").columns)[:3] == [
        "merchant",
        "customer_identifier",
        "return_id",
    ]


def test_previous_night_and_trend_come_from_earlier_reports(tmp_path: Path) -> None:
    drift = _drift()
    for days_back, rows in ((3, drift.head(1)), (1, drift.head(2)), (0, drift)):
        write_report(
            _tonight(rows),
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
        _tonight(drift),
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
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections == [
        "## Counts by kind and severity",
        "## Triage",
        "## Oldest open items (top 3 of 3)",
        "## Refund speed",
        "## Drift by kind over the last nights",
        "## Refund speed over the last nights",
        "## Healing",
        "## Full report",
    ]


def test_chart_renders_every_kind_and_survives_no_history() -> None:
    assert markdown_chart([]) == "_No nights recorded yet._\n"
    chart = markdown_chart([Night("2026-11-20", {})])
    assert chart.count("\n| ") == 12 and "| **total** | `▁` | **0** | |" in chart
    for png in (
        drift_chart_png([Night("2026-11-19", {"orphan_rma": 3}), Night("2026-11-20", {})]),
        drift_chart_png([]),
        speed_chart_png([Night("2026-11-20", {})]),
        speed_chart_png([]),
    ):
        assert png.startswith(PNG)
        with Image.open(io.BytesIO(png)) as image:
            assert image.size == (900, 380)


def test_speed_chart_follows_p50_and_p95_over_the_nights() -> None:
    nights = [
        Night("2026-11-18", {}),  # written before refund speed was measured
        Night("2026-11-19", {}, {"authorize_to_refund": {"p50_h": 50.0, "p95_h": 100.0}}),
        Night("2026-11-20", {}, {"authorize_to_refund": {"p50_h": 25.0, "p95_h": 200.0}}),
    ]
    text = markdown_speed_chart(nights)
    assert "| authorize → refunded | ` █▅` | 25.0 h | ` ▅█` | 8.3 d |" in text
    assert "| authorize → RMA created | `   ` | n/a | `   ` | n/a |" in text
    with Image.open(io.BytesIO(speed_chart_png(nights))) as image:
        assert image.size == (900, 380)


def test_first_seen_and_resolved_are_carried_through_the_report_files(tmp_path: Path) -> None:
    drift = _drift()
    night1, night2 = NOW - pd.Timedelta(days=1), NOW
    first = triage(drift.head(2), exceptions(), previous(), now=night1, previous_at=None)
    write_report(
        Tonight(first, refund_speed(*_frames())),
        [],
        root=tmp_path,
        merchant="acme",
        day=DAY - timedelta(days=1),
        window=Window(now=night1),
    )
    before, at = previous_drift(tmp_path, "acme", DAY)
    assert at == night1 and len(before) == 2
    second = triage(
        drift.tail(2),
        exceptions(exception(4, "mapping:missing_sku", "1")),
        before,
        now=night2,
        previous_at=at,
    )
    got = second.drift.set_index("customer_identifier")
    carried = drift.iloc[1]["customer_identifier"]  # in both nights
    new = drift.iloc[2]["customer_identifier"]
    assert got.loc[carried, "first_seen"] == night1 and got.loc[carried, "triage"] == "still_open"
    assert got.loc[new, "first_seen"] == night2 and got.loc[new, "triage"] == "new"
    assert second.resolved["customer_identifier"].tolist() == [drift.iloc[0]["customer_identifier"]]
    none_before, no_night = previous_drift(tmp_path, "acme", DAY - timedelta(days=1))
    assert none_before.empty and no_night is None


def test_previous_report_written_before_triage_counts_as_first_seen_that_night(
    tmp_path: Path,
) -> None:
    drift = _drift()
    folder = tmp_path / "acme" / "2026-11-19"
    folder.mkdir(parents=True)
    drift.to_parquet(folder / "drift.parquet", index=False)  # no triage columns
    at = "2026-11-19T02:00:00+00:00"
    (folder / "counts.json").write_text(
        json.dumps({"date": "2026-11-19", "now": at, "by_kind": {}})
    )
    before, when = previous_drift(tmp_path, "acme", DAY)
    assert when == pd.Timestamp(at)
    assert len(before) == 3 and (before["first_seen"] == pd.Timestamp(at)).all()
    assert previous_counts(tmp_path, "acme", DAY) == {}


def test_table_rows_are_json_ready_and_capped() -> None:
    drift = _drift()
    rows = table_rows(_tonight(drift).drift, _healing(), limit=2)
    assert len(rows) == 2
    json.dumps(rows)  # no Timestamp, NA or numpy scalar left
    first = rows[0]
    assert first["severity"] == "critical" and first["kind"] == "refunded_not_received"
    assert first["since"].endswith("+00:00") and isinstance(first["age_days"], float)
    assert first["ams_id"] == "ams-2" and first["heal"] == ""
    assert first["first_seen"] == "2026-11-20T02:00:00+00:00"
    assert (first["triage"], first["age_bucket"], first["explained"]) == ("new", "0-1", False)
    assert first["exception_id"] is None and first["exception_reason"] is None
    assert list(first) == [
        "severity",
        "kind",
        "triage",
        "age_days",
        "age_bucket",
        "since",
        "first_seen",
        "customer_identifier",
        "return_id",
        "ams_id",
        "detail",
        "explained",
        "exception_id",
        "exception_reason",
        "suggested_action",
        "healable",
        "heal",
    ]
