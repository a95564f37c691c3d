"""Refund speed: instants from the systems of record, percentiles per merchant, the slowest."""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest

from core.speed import SPAN_NAMES, duration_text, refund_speed, render_speed, timeline
from tests.unit.drift.builders import (
    ago,
    ams,
    ams_line,
    received,
    refunded,
    returnly,
    returnly_line,
)


def _refunded(
    rid: str, wait_h: float, merchant: str = "acme", rma_after_h: float = 0.5
) -> tuple[dict[str, object], dict[str, object]]:
    """A return authorized ``wait_h`` + 1 hours ago, refunded an hour ago, received 2 h before."""
    authorized = ago(hours=wait_h + 1)
    line = refunded(rid, created_at=authorized, refunded_at=ago(hours=1), merchant=merchant)
    rma = received(
        rid,
        created_at=authorized + pd.Timedelta(hours=rma_after_h),
        received_at=ago(hours=3),
        merchant=merchant,
    )
    return line, rma


def _frames(
    *pairs: tuple[dict[str, object], dict[str, object]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    return returnly(*(p[0] for p in pairs)), ams(*(p[1] for p in pairs))


def test_refund_speed_percentiles_match_numpy_linear() -> None:
    waits = [5.0, 9.0, 13.0, 20.0, 24.0, 36.0, 50.0, 71.0, 96.0, 200.0, 240.0]
    speed = refund_speed(*_frames(*(_refunded(str(i), w) for i, w in enumerate(waits))))
    row = speed.stats.set_index("span").loc["authorize_to_refund"]
    assert row["returns"] == len(waits) and row["skipped"] == 0
    assert row["p50_h"] == pytest.approx(np.percentile(waits, 50))
    assert row["p95_h"] == pytest.approx(np.percentile(waits, 95))
    assert row["max_h"] == pytest.approx(240.0)
    received = speed.stats.set_index("span").loc["received_to_refund"]
    assert (received["p50_h"], received["p95_h"], received["max_h"]) == pytest.approx((2, 2, 2))
    to_rma = speed.stats.set_index("span").loc["authorize_to_rma"]
    assert to_rma["p50_h"] == pytest.approx(0.5)


def test_refund_speed_is_per_merchant_with_every_span() -> None:
    speed = refund_speed(
        *_frames(_refunded("1", 10), _refunded("2", 30), _refunded("3", 100, merchant="zeta"))
    )
    assert speed.stats[["merchant", "span"]].values.tolist() == [
        [m, s] for m in ("acme", "zeta") for s in SPAN_NAMES
    ]
    p50 = speed.stats.set_index(["merchant", "span"])["p50_h"]
    assert p50[("acme", "authorize_to_refund")] == pytest.approx(20.0)
    assert p50[("zeta", "authorize_to_refund")] == pytest.approx(100.0)


def test_unfinished_spans_are_not_counted_and_backwards_ones_are_skipped() -> None:
    r = returnly(
        returnly_line("1", created_at=ago(days=3)),  # authorized, no RMA yet
        returnly_line("2", created_at=ago(days=3), status="delivered"),  # RMA, not received
        refunded("3", created_at=ago(days=2), refunded_at=ago(days=3)),  # refunded "before"
    )
    a = ams(
        ams_line("2", created_at=ago(days=2)),
        received("3", created_at=ago(days=2), received_at=ago(days=1)),
    )
    stats = refund_speed(r, a).stats.set_index("span")
    assert stats.loc["authorize_to_rma", "returns"] == 2  # returns 2 and 3
    assert stats.loc["received_to_refund", "returns"] == 0
    assert stats.loc["received_to_refund", "skipped"] == 1
    assert np.isnan(stats.loc["received_to_refund", "p50_h"])
    assert stats.loc["authorize_to_refund", "skipped"] == 1
    assert refund_speed(r, a).slowest.empty


def test_timeline_reads_one_row_per_return_from_returnly_and_ams() -> None:
    r = returnly(
        refunded("1", created_at=ago(days=5), refunded_at=ago(days=1)),
        refunded("1", sku="HAT-RED", created_at=ago(days=5), refunded_at=ago(days=1)),
    )
    a = ams(
        received("1", ams_id="ams-b", created_at=ago(days=4), received_at=ago(days=2)),
        received("1", ams_id="ams-a", created_at=ago(days=5, hours=-1), received_at=ago(days=3)),
        ams_line("WH-9", created_at=ago(days=1)),  # orphan RMA: no return, no row
    )
    line = timeline(r, a)
    assert len(line) == 1
    got = line.iloc[0]
    assert (got["return_id"], got["ams_id"]) == ("1", "ams-b")
    assert got["authorized_at"] == ago(days=5)
    assert got["rma_created_at"] == ago(days=5, hours=-1)  # the earliest RMA
    assert got["received_at"] == ago(days=3)  # the earliest receipt
    assert got["refunded_at"] == ago(days=1)


def test_slowest_are_the_ten_longest_waits_longest_first() -> None:
    waits = [float(h) for h in range(1, 16)]
    speed = refund_speed(*_frames(*(_refunded(f"{i:02d}", w) for i, w in enumerate(waits))))
    assert len(speed.slowest) == 10
    assert speed.slowest["authorize_to_refund"].tolist() == pytest.approx(waits[::-1][:10])
    ties = refund_speed(
        *_frames(_refunded("b", 5), _refunded("a", 5), _refunded("c", 1)), slowest_n=2
    )
    assert ties.slowest["customer_identifier"].tolist() == ["RLY-a", "RLY-b"]


@pytest.mark.parametrize(
    ("hours", "text"),
    [
        pytest.param(0.2, "12 min", id="minutes"),
        pytest.param(1.0, "1.0 h", id="an-hour"),
        pytest.param(47.94, "47.9 h", id="under-two-days"),
        pytest.param(48.0, "2.0 d", id="two-days"),
        pytest.param(100.0, "4.2 d", id="days"),
        pytest.param(float("nan"), "n/a", id="unknown"),
    ],
)
def test_duration_text(hours: float, text: str) -> None:
    assert duration_text(np.array([hours])).tolist() == [text]


def test_render_speed_names_its_sources_and_survives_an_empty_window() -> None:
    text = render_speed(refund_speed(*_frames(_refunded("1", 10))))
    assert "Returnly's `created_at`" in text and "AMS's `received_at`" in text
    assert "| acme | authorize → refunded | 1 | 10.0 h | 10.0 h | 10.0 h | 0 |" in text
    assert "### The 1 slowest returns (authorize → refunded)" in text
    empty = render_speed(refund_speed(returnly(), ams()))
    assert "_No returns in this window._" in empty
