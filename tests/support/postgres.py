"""Fresh databases on the test PostgreSQL (``BRIDGE_TEST_POSTGRES_URL``), one per purpose."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, make_url, text

POSTGRES_ENV = "BRIDGE_TEST_POSTGRES_URL"


def postgres_url_or_skip(what: str) -> str:
    """The test server's URL, or skip saying what goes untested."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(
            f"{POSTGRES_ENV} is not set: {what} not tested on Postgres "
            "(scripts/ci-postgres.sh starts one and prints the line to export)"
        )
    return url


def fresh_database(base_url: str, name: str) -> str:
    """Drop and create database ``name`` on the server of ``base_url``; its URL (same driver)."""
    engine = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def asyncpg_url(url: str) -> str:
    """The same database for the Prefect server's driver (``postgresql+asyncpg``)."""
    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
