"""Watermarks: aware UTC in and out, and they only ever move forward."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text

from ledger import Ledger

Race = Callable[[int, Callable[[int], Any]], list[Any]]

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_get_watermark_unset_is_none(ledger: Ledger) -> None:
    assert ledger.get_watermark("m", "intake") is None


def test_advance_watermark_only_forward(ledger: Ledger) -> None:
    assert ledger.advance_watermark("m", "intake", T0) == T0
    later = T0 + timedelta(microseconds=1)
    assert ledger.advance_watermark("m", "intake", later) == later
    assert ledger.advance_watermark("m", "intake", T0 - timedelta(days=1)) == later
    assert ledger.advance_watermark("m", "intake", later) == later
    assert ledger.get_watermark("m", "intake") == later


def test_watermarks_are_per_merchant_and_name(ledger: Ledger) -> None:
    ledger.advance_watermark("m", "intake", T0)
    ledger.advance_watermark("m", "arrival", T0 + timedelta(hours=1))
    ledger.advance_watermark("m2", "intake", T0 - timedelta(hours=1))
    assert ledger.get_watermark("m", "intake") == T0
    assert ledger.get_watermark("m", "arrival") == T0 + timedelta(hours=1)
    assert ledger.get_watermark("m2", "intake") == T0 - timedelta(hours=1)


def test_watermark_aware_round_trip_from_other_offset(ledger: Ledger) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    local = datetime(2025, 3, 1, 17, 30, 0, 123456, tzinfo=india)
    ledger.advance_watermark("m", "intake", local)
    stored = ledger.get_watermark("m", "intake")
    assert stored == T0
    assert stored is not None
    assert stored.utcoffset() == timedelta(0)
    # A later instant written with a smaller wall-clock reading still moves it forward.
    behind_wall_clock = datetime(2025, 3, 1, 7, 0, tzinfo=timezone(timedelta(hours=-6)))
    assert ledger.advance_watermark("m", "intake", behind_wall_clock) == behind_wall_clock


def test_watermark_stored_as_utc(ledger: Ledger) -> None:
    ledger.advance_watermark("m", "intake", T0.astimezone(timezone(timedelta(hours=-8))))
    with ledger.engine.connect() as conn:
        raw = conn.execute(text("SELECT value FROM watermarks")).scalar()
    assert "12:00:00.123456" in str(raw)


def test_advance_watermark_naive_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ledger.advance_watermark("m", "intake", datetime(2025, 1, 1))
    assert ledger.get_watermark("m", "intake") is None


def test_advance_watermark_race_ends_at_max(ledger: Ledger, race: Race) -> None:
    values = [T0 + timedelta(seconds=i) for i in range(12)]
    random.Random(7).shuffle(values)
    results = race(len(values), lambda i: ledger.advance_watermark("m", "intake", values[i]))
    for given, stored in zip(values, results, strict=True):
        assert stored >= given
    assert ledger.get_watermark("m", "intake") == max(values)
