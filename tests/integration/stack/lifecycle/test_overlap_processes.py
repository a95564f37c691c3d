"""Overlapping runs as separate OS processes, on a SQLite file and on Postgres.

Three processes complete the same received returns at once (in different orders) against a
Returnly sandbox that accepts a second refund of a return. Each refund must be posted once:
counted from the sandbox's request log and its refunds, not from the ledger.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from clients.ams import AmsClient
from clients.returnly import ReturnlyClient
from core.mapping import customer_identifier_for
from core.merchant import MerchantConfig
from ledger import Base, make_engine, open_ledger
from stages.arrival import fetch_open_rmas, received_return_ids, record_rmas
from stages.intake import intake_returns
from tests.integration.stack.lifecycle.test_exactly_once import _refund_posts
from tests.support.processes import run_released_together
from tests.support.stack import Stack

POSTGRES_ENV = "BRIDGE_TEST_POSTGRES_URL"
RETURNS = 20

_CHILD = """
import json, sys
from ledger import open_ledger
from stages.completion import complete_returns
from tests.support.processes import run_released_together
from tests.support.stack import Stack

url, returnly_url, ams_url, order = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ids = json.loads(sys.argv[5])
ids = list(reversed(ids)) if order == "reversed" else ids
stack = Stack(returnly_url=returnly_url, ams_url=ams_url, sink_url="http://127.0.0.1:9")
merchant = stack.merchant()
ledger = open_ledger(url)
with stack.returnly() as returnly, stack.ams() as ams:
    print("ready", flush=True)
    sys.stdin.readline()
    out = complete_returns(merchant, ids, ledger=ledger, returnly=returnly, ams=ams)
ledger.close()
print(json.dumps([o.outcome for o in out]), flush=True)
"""


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def shared_ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ledger several processes open at once: a SQLite file, or the test Postgres."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set (scripts/ci-postgres.sh starts a PostgreSQL)")
    engine = make_engine(url)
    try:
        Base.metadata.drop_all(engine)
    finally:
        engine.dispose()
    return url


def test_processes_completing_the_same_returns_refund_each_once(
    stack: Stack,
    merchant: MerchantConfig,
    returnly: ReturnlyClient,
    ams: AmsClient,
    shared_ledger_url: str,
    tmp_path: Path,
) -> None:
    """Fails on the code before leases: a run posted while another held a pending claim."""
    ids = [stack.plant(lines=[{"units": 1, "unit_price": "15.00"}])["id"] for _ in range(RETURNS)]
    with open_ledger(shared_ledger_url) as ledger:
        intake_returns(merchant, [returnly.get_return(i) for i in ids], ledger=ledger, ams=ams)
        for i in ids:
            ams.trigger_rma_event(customer_identifier_for(i), "receiveFull")
        rmas, _ = fetch_open_rmas(merchant, ledger=ledger, ams=ams)
        assert sorted(received_return_ids(record_rmas(merchant, rmas, ledger=ledger))) == sorted(
            ids
        )
    stack.faults("returnly", refund_idempotency="none")
    common = [shared_ledger_url, stack.returnly_url, stack.ams_url]
    orders = ["forward", "reversed", "forward"]
    lines = run_released_together(_CHILD, [[*common, o, json.dumps(ids)] for o in orders], tmp_path)
    results = [json.loads(line) for line in lines]
    assert [stack.refund_count(i) for i in ids] == [1] * RETURNS
    assert _refund_posts(stack) == RETURNS
    assert sum(r.count("refunded") for r in results) == RETURNS
    assert all(set(r) <= {"refunded", "already_done", "busy"} for r in results)
    with open_ledger(shared_ledger_url) as ledger:
        attempts = [a for i in ids for a in ledger.refunds_for_return(merchant.name, i)]
    assert [a.status for a in attempts] == ["succeeded"] * RETURNS
