"""Session plumbing shared by the repository mixins: one short transaction per operation."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ledger.errors import LedgerError

WRITE_OPTION = "ledger_write"
"""Connection execution option marking a write transaction (SQLite: ``BEGIN IMMEDIATE``)."""

RACE_RETRIES = 3
"""How often an insert that lost a unique-key race is retried against the winner's row."""

T = TypeVar("T")

IN_CHUNK = 400
"""Values per ``IN`` list in one query (SQLite caps bound variables per statement)."""


def in_chunks(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in slices small enough for one ``IN`` list."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


DEFAULT_LEASE_TTL_S = 600.0
"""Longer than one write call can take with its safe retries (4 x 35 s timeouts + 3 x 60 s
Retry-After waits): each write starts with at least three quarters of it left
(``ledger.leases.RENEW_AFTER``), so 450 s only have to outlive that call. Set
``BRIDGE_LEDGER_LEASE_TTL_S`` lower only together with shorter client timeouts."""


class Store:
    """Owns the engine and two session factories; safe to share between threads."""

    lease_ttl_s: float = DEFAULT_LEASE_TTL_S
    """Default time to live of a lease taken through this ledger (see :mod:`ledger.leases`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # Rows are handed back detached, so keep their loaded values after commit.
        self._reads = sessionmaker(engine, expire_on_commit=False)
        self._writes = sessionmaker(
            engine, expire_on_commit=False, execution_options={WRITE_OPTION: True}
        )
        # SQLite allows one writer; threads of this process queue on a lock instead of on
        # SQLite's busy handler, which sleeps in growing steps (1, 2, 5 ... 100 ms).
        self._write_lock: AbstractContextManager[object] = (
            threading.RLock() if engine.dialect.name == "sqlite" else nullcontext()
        )

    @property
    def engine(self) -> Engine:
        """The engine behind this ledger (for tests and admin tasks)."""
        return self._engine

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A read-only session, closed (rolled back) on exit."""
        with self._reads() as session:
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A write transaction: committed on success, rolled back on any error."""
        with self._write_lock, self._writes.begin() as session:
            yield session

    def _retry_race(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` again when a concurrent writer won a unique-key race.

        After the loser's rollback, the next attempt sees the winner's committed row.
        """
        last: IntegrityError | None = None
        for _ in range(RACE_RETRIES):
            try:
                return attempt()
            except IntegrityError as exc:
                last = exc
        raise LedgerError(f"gave up after {RACE_RETRIES} unique-key races") from last
