"""Ledger fixtures: every test runs on a SQLite file, and on Postgres when one is given.

Postgres runs need ``BRIDGE_TEST_POSTGRES_URL`` (``scripts/ci-postgres.sh`` starts a
throwaway server and prints it); its tables are dropped before each test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier
from typing import Any, TypeVar

import pytest

from ledger import Base, Ledger, make_engine, open_ledger

POSTGRES_ENV = "BRIDGE_TEST_POSTGRES_URL"
T = TypeVar("T")


def _reset_postgres(url: str) -> None:
    engine = make_engine(url)
    try:
        Base.metadata.drop_all(engine)
    finally:
        engine.dispose()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty ledger URL: a SQLite file (never :memory:) or the test Postgres."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(
            f"{POSTGRES_ENV} is not set: Postgres backend not tested "
            "(scripts/ci-postgres.sh starts one and prints the line to export)"
        )
    _reset_postgres(url)
    return url


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    """An open ledger on the parametrized backend, closed after the test."""
    with open_ledger(ledger_url) as opened:
        yield opened


def _race(n: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(i)`` in ``n`` threads released together; re-raise any thread's error."""
    barrier = Barrier(n)

    def run(i: int) -> T:
        barrier.wait(timeout=30)
        return work(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(run, i) for i in range(n)]
        return [future.result(timeout=120) for future in futures]


@pytest.fixture
def race() -> Callable[[int, Callable[[int], Any]], list[Any]]:
    """``race(n, work)``: run ``work(i)`` in ``n`` threads at once, results in order."""
    return _race
