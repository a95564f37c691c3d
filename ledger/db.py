"""Engine set-up and ``open_ledger``: SQLite file by default, any SQLAlchemy URL by setting.

SQLite is tuned for several writers (overlapping flow runs, webhook receiver + worker):
WAL journal so readers never block, a busy timeout so writers wait instead of failing,
foreign keys on, and write transactions opened with ``BEGIN IMMEDIATE`` so two writers
cannot both read then deadlock when upgrading to a write lock.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import CreateColumn

from core.settings import LedgerSettings
from ledger.errors import LedgerError
from ledger.models import Base
from ledger.repository import Ledger
from ledger.store import WRITE_OPTION

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for the write lock before giving up."""

_SCHEMA_LOCK_KEY = 0x6C6564676572  # "ledger": serialises concurrent create_all on Postgres

_LOCKED_RETRY_SECONDS = 30.0
"""How long opening a SQLite file keeps retrying a lock the busy handler did not wait for."""


def _retry_while_locked(step: Callable[[], None], budget: float = _LOCKED_RETRY_SECONDS) -> None:
    """Run ``step``, retrying ``database is locked`` errors until ``budget`` seconds have passed.

    Switching a fresh file to WAL needs an exclusive lock and SQLite may refuse it at once,
    without calling the busy handler, while another process opens the same file.
    """
    deadline = time.monotonic() + budget
    delay = 0.01
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in database


def _sqlite_engine(url: URL, echo: bool) -> Engine:
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if _is_memory(url):
        kwargs["poolclass"] = StaticPool  # one shared connection, else each has its own DB
    else:
        database = url.database or ""
        if not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            _retry_while_locked(lambda: cursor.execute("PRAGMA journal_mode = WAL"))
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """An engine for ``url``, with the SQLite tuning applied when it is SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo)
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


def create_schema(engine: Engine) -> None:
    """Create missing tables; safe when several processes open the ledger at once."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
            Base.metadata.create_all(conn)
            _add_missing_columns(conn)


def _add_missing_columns(conn: Connection) -> None:
    """Additive migration: columns added to a model since the table was created.

    Only columns an existing row can do without (nullable, or with a server default) are
    added; anything else is a change that needs a real migration and is refused.
    """
    inspector = inspect(conn)
    for table in Base.metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable and column.server_default is None:
                raise LedgerError(f"{table.name}.{column.name} is missing and needs a migration")
            ddl = CreateColumn(column).compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {ddl}"))


def open_ledger(url: str | URL | None = None, *, echo: bool = False) -> Ledger:
    """Open (and create if needed) the ledger at ``url``, default from ``LedgerSettings``.

    ``sqlite://`` (in memory) works for single-threaded use only: its one connection is shared.
    """
    settings = LedgerSettings()
    engine = make_engine(url if url is not None else settings.sqlalchemy_url(), echo=echo)
    try:
        create_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    ledger = Ledger(engine)
    if settings.lease_ttl_s is not None:
        ledger.lease_ttl_s = settings.lease_ttl_s
    return ledger
