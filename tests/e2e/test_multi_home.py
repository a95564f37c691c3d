"""``--dispatch task`` across hosts: the receiver and the task workers on separate Prefect homes.

Each bridge process here has its own ``PREFECT_HOME`` and working directory, standing in for
its own host's disk; they share only the Prefect API, the ledger and the task storage that
``bridge deploy`` registered. Before that storage existed, ``.delay()`` wrote a webhook's
parameters under the receiver's home and every task worker elsewhere failed with "Failed to
read parameters" (issue 13), losing the work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from clients.ams import AmsClient
from clients.returnly import ReturnlyClient
from core.mapping import customer_identifier_for
from core.settings import SANDBOX_AMS_TOKEN, SANDBOX_RETURNLY_TOKEN
from deployments.scenario import subscribe
from tests.support.multihome import MERCHANT, Layout, multi_home_layout
from tests.support.stack import Stack

pytestmark = [pytest.mark.slow]

RMA_TIMEOUT_S = 60.0


def _clients(layout: Layout) -> tuple[ReturnlyClient, AmsClient]:
    returnly = ReturnlyClient(base_url=layout.returnly_url, api_token=SANDBOX_RETURNLY_TOKEN)
    ams = AmsClient(base_url=layout.ams_url, account=MERCHANT, api_token=SANDBOX_AMS_TOKEN)
    return returnly, ams


def subscribe_receiver(layout: Layout) -> None:
    """Returnly webhooks and the AMS callback to the receiver, as ``bridge onboard`` does."""
    merchant = Stack(layout.returnly_url, layout.ams_url, "").merchant(MERCHANT)
    returnly, ams = _clients(layout)
    with returnly, ams:
        subscribe(merchant, layout.receiver_url, returnly, ams)


def authorize_returns(layout: Layout, count: int) -> list[str]:
    """Plant ``count`` requested returns and authorize each: one webhook apiece."""
    ids: list[str] = []
    with httpx.Client(base_url=layout.returnly_url, timeout=30) as admin:
        for _ in range(count):
            reply = admin.post("/_admin/returns", json={"status": "requested"})
            reply.raise_for_status()
            rid = str(reply.json()["id"])
            admin.post(f"/_admin/returns/{rid}/status", json={"status": "authorize"})
            ids.append(rid)
    return ids


def wait_for_rmas(layout: Layout, return_ids: list[str], diagnose: Callable[[], str]) -> float:
    """Seconds until every return has its RMA in AMS; fails with ``diagnose()`` otherwise."""
    started = time.monotonic()
    missing = list(return_ids)
    _, ams = _clients(layout)
    with ams:
        while missing:
            missing = [
                rid for rid in missing if ams.get_rma_by_cid(customer_identifier_for(rid)) is None
            ]
            if not missing:
                break
            if time.monotonic() - started > RMA_TIMEOUT_S:
                raise AssertionError(
                    f"{len(missing)} of {len(return_ids)} returns got no RMA in "
                    f"{RMA_TIMEOUT_S}s\n{diagnose()}"
                )
            time.sleep(0.5)
    return time.monotonic() - started


def worker_failures(layout: Layout) -> str:
    """The task workers' lines about parameters they could not read, and their log tails."""
    out = []
    for host in layout.task_workers:
        text = host.text()
        bad = [line for line in text.splitlines() if "parameters" in line.lower()]
        out.append(f"--- {host.name}: {len(bad)} parameter line(s)\n" + "\n".join(bad[:6]))
    return "\n".join(out)


def test_a_task_worker_on_another_home_runs_what_the_receiver_queued(tmp_path: Path) -> None:
    """Issue 13's failure: default storage, receiver and task worker on separate homes.

    On the code before the shared task storage, the worker logged "Failed to read parameters
    for task run" (the parameters lay under the receiver's home) and no RMA was created.
    """
    with multi_home_layout(tmp_path, task_workers=1) as layout:
        subscribe_receiver(layout)
        ids = authorize_returns(layout, 3)
        wait_for_rmas(layout, ids, lambda: worker_failures(layout))
        (worker,) = layout.task_workers
        assert "Failed to read parameters" not in worker.text()
        assert len(worker.received()) >= 3, worker.received()
