"""Counts the request meter holds belong to the ledger in use when they were made.

The meter is process-wide and looks its ledger up when it flushes; a process that switches
ledgers (``reset_runtime``: tests, or the CLI re-reading the server's state) must not hand one
ledger's counts to the next. Found as an order-dependent failure: requests of an earlier test
file showed up in a later test's budget.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger import open_ledger
from runtime import get_ledger, reset_runtime
from runtime.request_meter import METER


def test_reset_settles_pending_counts_into_the_ledger_they_were_made_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    monkeypatch.setenv("BRIDGE_LEDGER_URL", f"sqlite:///{first}")
    reset_runtime()
    get_ledger()  # the ledger this process uses now
    METER.record("ams", "meter-reset-merchant", n=3)

    reset_runtime()
    monkeypatch.setenv("BRIDGE_LEDGER_URL", f"sqlite:///{second}")
    METER.record("ams", "meter-reset-merchant", n=2)
    METER.flush()
    reset_runtime()

    since = datetime.now(UTC) - timedelta(hours=1)
    counted = {
        path.name: sum(
            open_ledger(f"sqlite:///{path}").request_counts("meter-reset-merchant", since).values()
        )
        for path in (first, second)
    }
    assert counted == {"first.db": 3, "second.db": 2}
    assert not METER.pending()
