"""The request budget: counted per process, added up in the ledger, judged against the limit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx

from ledger import Ledger
from runtime.request_meter import RequestMeter
from tasks.budget import WARN_SHARE, budget_rows

NOW = datetime(2026, 12, 2, 9, 30, 20, tzinfo=UTC)


def test_meters_of_several_processes_add_up_per_minute(ledger: Ledger) -> None:
    """Two meters (two processes or hosts) flushing concurrently lose none of each other's."""
    meters = [RequestMeter(lambda: ledger, interval_s=3600) for _ in range(2)]

    def work(meter: RequestMeter) -> None:
        for i in range(50):
            meter.record("ams", "acme", at=NOW - timedelta(seconds=i % 2 * 60))
            if i % 10 == 0:
                meter.flush()
        meter.record("returnly", "acme", n=3, at=NOW)
        meter.flush()

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(work, meters))
    counts = ledger.request_counts("acme", NOW - timedelta(hours=1))
    minute = NOW.replace(second=0)
    assert counts == {
        ("ams", minute): 50,
        ("ams", minute - timedelta(minutes=1)): 50,
        ("returnly", minute): 6,
    }
    assert all(not m.pending() for m in meters)


def test_the_client_hook_counts_every_request_sent(ledger: Ledger) -> None:
    meter = RequestMeter(lambda: ledger, interval_s=3600)
    transport = httpx.MockTransport(lambda request: httpx.Response(503))
    hooks = {"request": [meter.hook("ams", "acme")]}
    with httpx.Client(transport=transport, event_hooks=hooks) as client:
        for _ in range(4):
            client.get("http://ams.invalid/rmas")  # answered or not, each one was sent
    assert sum(meter.pending().values()) == 4
    assert meter.flush() == 4
    assert sum(ledger.request_counts("acme", datetime.now(UTC) - timedelta(hours=1)).values()) == 4


def test_counts_the_ledger_refuses_are_kept_for_the_next_flush(ledger: Ledger) -> None:
    broken = True

    def current() -> Ledger:
        if broken:
            raise ConnectionError("ledger down")
        return ledger

    meter = RequestMeter(current, interval_s=3600)
    meter.record("ams", "acme", n=7, at=NOW)
    assert meter.flush() == 0
    broken = False
    assert meter.flush() == 7
    assert ledger.request_counts("acme", NOW - timedelta(hours=1)) == {
        ("ams", NOW.replace(second=0)): 7
    }


def test_budget_warns_above_80_percent_of_the_last_hour_only() -> None:
    minute = NOW.replace(second=0)
    counts = {
        ("ams", minute): 300,
        ("ams", minute - timedelta(minutes=59)): 520,  # still inside the hour
        ("ams", minute - timedelta(minutes=60)): 900,  # an hour ago: not counted
        ("returnly", minute - timedelta(minutes=5)): 100,
    }
    limits = {"ams": (1000.0, "ams-acme"), "returnly": (3600.0, "default")}
    ams, returnly = budget_rows("acme", counts, limits, NOW)
    assert (ams.last_hour, ams.peak_minute, ams.warning) == (820, 520, True)
    assert ams.share > WARN_SHARE
    assert ams.as_row()["status"] == "WARNING: last hour above 80%"
    assert ams.busiest_hour == 1420  # clock hour 08:00-08:59: 520 + 900
    assert (returnly.last_hour, returnly.warning, returnly.as_row()["status"]) == (100, False, "ok")
    exactly = budget_rows("acme", {("ams", minute): 800}, limits, NOW)[0]
    assert not exactly.warning  # 80% is the line, not above it
    earlier = budget_rows("acme", {("ams", minute - timedelta(hours=5)): 810}, limits, NOW)[0]
    assert (earlier.last_hour, earlier.status) == (0, "WARNING: an hour of the last day above 80%")


def test_old_minutes_are_pruned(ledger: Ledger) -> None:
    ledger.add_request_counts(
        {("acme", "ams", NOW - timedelta(days=9)): 5, ("acme", "ams", NOW): 2}
    )
    assert ledger.prune_request_counts(NOW - timedelta(days=8)) == 1
    assert sum(ledger.request_counts("acme", NOW - timedelta(days=30)).values()) == 2
