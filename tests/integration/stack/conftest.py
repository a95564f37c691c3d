"""Both sandboxes, a SQLite ledger and clients: lifecycle steps and reconciliation scenarios."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clients.ams import AmsClient
from clients.returnly import ReturnlyClient
from core.merchant import MerchantConfig
from ledger import Ledger, open_ledger
from tests.support.stack import Stack, running_stack


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with running_stack() as s:
        yield s


@pytest.fixture(autouse=True)
def _fresh(stack: Stack) -> None:
    stack.reset()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as led:
        yield led


@pytest.fixture
def merchant(stack: Stack) -> MerchantConfig:
    return stack.merchant()


@pytest.fixture
def returnly(stack: Stack) -> Iterator[ReturnlyClient]:
    with stack.returnly() as client:
        yield client


@pytest.fixture
def ams(stack: Stack) -> Iterator[AmsClient]:
    with stack.ams() as client:
        yield client
