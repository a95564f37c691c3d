"""Opening the ledger: default location, SQLite tuning, schema creation, safe repr."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ledger import SQLITE_BUSY_TIMEOUT_MS, Ledger, make_engine, open_ledger
from ledger.db import _retry_while_locked


def test_open_ledger_default_path_from_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_ledger() as ledger:
        ledger.upsert_link("m", "r1", "cust-r1")
    assert (tmp_path / "var" / "ledger.db").is_file()


def test_open_ledger_path_setting_creates_parent_dirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a" / "b" / "ledger.db"
    monkeypatch.setenv("BRIDGE_LEDGER_PATH", str(target))
    with open_ledger() as ledger:
        ledger.upsert_link("m", "r1", "cust-r1")
    assert target.is_file()


def test_open_ledger_url_setting_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "by-url" / "x.db"
    monkeypatch.setenv("BRIDGE_LEDGER_URL", f"sqlite:///{target}")
    monkeypatch.setenv("BRIDGE_LEDGER_PATH", str(tmp_path / "ignored.db"))
    with open_ledger() as ledger:
        assert ledger.engine.url.database == str(target)
    assert target.is_file()
    assert not (tmp_path / "ignored.db").exists()


def test_open_ledger_sqlite_pragmas(tmp_path: Path) -> None:
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger, ledger.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS


def test_open_ledger_twice_keeps_data(ledger_url: str) -> None:
    with open_ledger(ledger_url) as first:
        first.upsert_link("m", "r1", "cust-r1")
    with open_ledger(ledger_url) as second:
        link = second.get_link("m", return_id="r1")
    assert link is not None
    assert link.customer_identifier == "cust-r1"


def test_open_ledger_in_memory_single_thread() -> None:
    with open_ledger("sqlite://") as ledger:
        ledger.upsert_link("m", "r1", "cust-r1")
        assert ledger.get_link("m", customer_identifier="cust-r1") is not None


def test_ledger_repr_hides_password() -> None:
    ledger = Ledger(make_engine("postgresql+psycopg2://bridge:s3cr3t-pw@127.0.0.1:1/x"))
    try:
        assert "s3cr3t-pw" not in repr(ledger)
        assert "bridge" in repr(ledger)
    finally:
        ledger.close()


def test_retry_while_locked_waits_out_a_refused_lock() -> None:
    calls: list[int] = []

    def step() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise sqlite3.OperationalError("database is locked")

    _retry_while_locked(step, budget=5.0)
    assert len(calls) == 3


def test_retry_while_locked_gives_up_after_its_budget() -> None:
    def step() -> None:
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _retry_while_locked(step, budget=0.05)


def test_retry_while_locked_does_not_retry_other_errors() -> None:
    calls: list[int] = []

    def step() -> None:
        calls.append(1)
        raise sqlite3.OperationalError("no such table: links")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        _retry_while_locked(step)
    assert len(calls) == 1


def test_open_ledger_adds_inbox_columns_missing_from_an_older_file(tmp_path: Path) -> None:
    """A ledger created before ``dispatches``/``run_id`` existed gets them on open."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with open_ledger(url) as ledger:
        ledger.put_inbox("ams", "m-1", "acme", "received", "RLY-1", {})
        with ledger.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE inbox DROP COLUMN dispatches")
            conn.exec_driver_sql("ALTER TABLE inbox DROP COLUMN run_id")

    with open_ledger(url) as ledger:
        row = ledger.mark_inbox("ams", "m-1", "emitted")

    assert (row.dispatches, row.run_id) == (1, None)
