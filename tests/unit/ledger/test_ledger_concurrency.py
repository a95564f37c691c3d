"""Concurrent writers: threads and separate processes racing on the same keys.

On SQLite these run against a real file (WAL + busy timeout + BEGIN IMMEDIATE), which is
where "database is locked" and lost-race IntegrityErrors would show up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledger import Ledger, LedgerConflictError, open_ledger
from tests.support.processes import run_released_together

Race = Callable[[int, Callable[[int], Any]], list[Any]]
THREADS = 12


def test_put_inbox_race_creates_exactly_one(ledger: Ledger, race: Race) -> None:
    results = race(
        THREADS, lambda i: ledger.put_inbox("ams", "msg-1", "m", "rmaEvent", "u1", {"t": i})
    )
    assert sum(created for _, created in results) == 1
    assert len({row.id for row, _ in results}) == 1
    assert ledger.counts()["inbox_by_status"] == {"pending": 1}


def test_upsert_link_race_creates_exactly_one(ledger: Ledger, race: Race) -> None:
    results = race(
        THREADS,
        lambda i: ledger.upsert_link("m", "r1", "cust-r1", ams_uuid="uuid-1", rma_number=f"{i}"),
    )
    assert len({link.id for link in results}) == 1
    assert ledger.counts()["links_by_stage"] == {"new": 1}
    link = ledger.get_link("m", return_id="r1")
    assert link is not None
    assert link.ams_uuid == "uuid-1"


def test_begin_refund_race_creates_exactly_one(ledger: Ledger, race: Race) -> None:
    lines = [{"line_id": "l1", "quantity": 1}]
    results = race(THREADS, lambda _: ledger.begin_refund("m", "r1", "key-1", lines))
    assert sum(created for _, created in results) == 1
    assert len({row.id for row, _ in results}) == 1
    assert len(ledger.refunds_for_return("m", "r1")) == 1


def test_open_exception_race_creates_exactly_one(ledger: Ledger, race: Race) -> None:
    results = race(
        THREADS, lambda _: ledger.open_exception("m", "qty_short", "x", {}, return_id="r1")
    )
    assert sum(created for _, created in results) == 1
    rows = ledger.list_exceptions("m")
    assert len(rows) == 1
    assert rows[0].occurrences == THREADS


def test_mixed_writers_race_no_errors(ledger: Ledger, race: Race) -> None:
    """Receiver, worker and poller all writing at once, on different tables."""

    def work(i: int) -> None:
        for j in range(10):
            ledger.put_inbox("ams", f"msg-{j}", "m", "rmaEvent", None, {"i": i})
            ledger.record_stage("m", f"r{j}", "arrival", "seen", {"thread": i})
            ledger.upsert_link("m", f"r{j}", f"cust-r{j}")

    race(6, work)
    counts = ledger.counts("m")
    assert counts["inbox_by_status"] == {"pending": 10}
    assert counts["links_by_stage"] == {"new": 10}
    assert len(ledger.history("m", "r0")) == 6


_CHILD = """
import json, sys
from datetime import UTC, datetime, timedelta
from ledger import open_ledger

url, proc = sys.argv[1], int(sys.argv[2])
ledger = open_ledger(url)
print("ready", flush=True)
sys.stdin.readline()
created = {"inbox": 0, "refund": 0}
for j in range(25):
    created["inbox"] += ledger.put_inbox("returnly", f"msg-{j}", "m", "k", None, {"p": proc})[1]
    created["refund"] += ledger.begin_refund("m", f"r{j}", f"key-{j}", [])[1]
    ledger.upsert_link("m", f"r{j}", f"cust-r{j}")
    ledger.advance_watermark("m", "intake", datetime(2025, 1, 1, tzinfo=UTC) + timedelta(j + proc))
ledger.close()
print(json.dumps(created), flush=True)
"""


def test_processes_race_on_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    lines = run_released_together(_CHILD, [[url, str(p)] for p in range(3)], tmp_path, 120)
    created = [json.loads(line) for line in lines]
    assert sum(c["inbox"] for c in created) == 25
    assert sum(c["refund"] for c in created) == 25
    with open_ledger(url) as ledger:
        counts = ledger.counts("m")
        assert counts["inbox_by_status"] == {"pending": 25}
        assert counts["links_by_stage"] == {"new": 25}
        watermark = ledger.get_watermark("m", "intake")
    assert watermark is not None
    assert watermark.isoformat() == "2025-01-27T00:00:00+00:00"  # j=24 + proc=2 days


def test_mark_inbox_race_counts_every_attempt(ledger: Ledger, race: Race) -> None:
    ledger.put_inbox("ams", "msg-1", "m", "rmaEvent", None, {})
    race(THREADS, lambda i: ledger.mark_inbox(None, "msg-1", "failed", error=f"worker {i}"))
    row = ledger.get_inbox("ams", "msg-1")
    assert row is not None
    assert row.attempts == THREADS


def test_complete_refund_race_one_refund_id_wins(ledger: Ledger, race: Race) -> None:
    ledger.begin_refund("m", "r1", "key-1", [])

    def complete(i: int) -> str:
        try:
            return ledger.complete_refund("key-1", f"rf-{i}", "1.00").refund_id or ""
        except LedgerConflictError:
            return "conflict"

    outcomes = race(THREADS, complete)
    winners = [o for o in outcomes if o != "conflict"]
    assert len(winners) == 1
    stored = ledger.get_refund("key-1")
    assert stored is not None
    assert stored.refund_id == winners[0]
