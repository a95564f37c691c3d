"""Exactly once under overlap and fault storms: no duplicate RMA, no second refund, none lost."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from clients.ams import AmsClient
from clients.errors import is_retryable
from clients.returnly import ReturnlyClient
from core.mapping import customer_identifier_for
from core.merchant import MerchantConfig
from ledger import Ledger
from tasks import stages
from tasks.arrival import fetch_open_rmas, received_return_ids, record_rmas
from tasks.completion import complete_return
from tasks.intake import intake_returns
from tests.support.stack import Stack

T = TypeVar("T")
N = 12


def with_task_retries(fn: Callable[[], T], attempts: int = 20) -> T:
    """What a Prefect task retry does: run the whole step again on a transient failure."""
    for _ in range(attempts - 1):
        try:
            return fn()
        except Exception as exc:
            if not is_retryable(exc):
                raise
    return fn()


def _rma_count(ams: AmsClient) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rma in ams.iter_rmas():
        if not rma.is_deleted:
            counts[rma.customer_identifier or ""] = counts.get(rma.customer_identifier or "", 0) + 1
    return counts


def test_overlapping_intake_runs_create_each_rma_once(
    stack: Stack, merchant: MerchantConfig, ams: AmsClient, ledger: Ledger
) -> None:
    ids = [stack.plant()["id"] for _ in range(N)]

    def run() -> list[str]:
        with stack.returnly() as rc, stack.ams() as ac:
            returns = [rc.get_return(i) for i in ids]
            return [o.outcome for o in intake_returns(merchant, returns, ledger=ledger, ams=ac)]

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: run(), range(3)))
    assert _rma_count(ams) == {customer_identifier_for(i): 1 for i in ids}
    created = sum(r.count("created") for r in results)
    assert created == N
    # "busy": another of the runs held the return's lease at that moment and created it.
    assert all(set(r) <= {"created", "already_done", "busy"} for r in results)


def test_overlapping_completion_runs_refund_once(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    ids = [stack.plant()["id"] for _ in range(N)]
    intake_returns(merchant, [returnly.get_return(i) for i in ids], ledger=ledger, ams=ams)
    for i in ids:
        ams.trigger_rma_event(customer_identifier_for(i), "receiveFull")
    rmas, _ = fetch_open_rmas(merchant, ledger=ledger, ams=ams)
    received = received_return_ids(record_rmas(merchant, rmas, ledger=ledger))
    assert sorted(received) == sorted(ids)

    def run(rid: str) -> str:
        with stack.returnly() as rc, stack.ams() as ac:
            return complete_return(merchant, rid, ledger=ledger, returnly=rc, ams=ac).outcome

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(run, ids * 3))
    assert outcomes.count("refunded") == N
    assert all(stack.refund_count(i) == 1 for i in ids)


def test_fault_storm_loses_nothing_and_duplicates_nothing(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    ids = [stack.plant(lines=[{"units": 1, "unit_price": "20.00"}])["id"] for _ in range(N)]
    storm = {"seed": 11, "error_rate": 0.25, "rate_limit_rate": 0.15, "retry_after_s": 0}
    stack.faults("returnly", **storm)
    stack.faults("ams", **storm)

    returns = with_task_retries(lambda: [returnly.get_return(i) for i in ids])
    for start in range(0, N, 5):
        batch = returns[start : start + 5]
        with_task_retries(lambda b=batch: intake_returns(merchant, b, ledger=ledger, ams=ams))
    for i in ids:
        with_task_retries(
            lambda i=i: ams.trigger_rma_event(customer_identifier_for(i), "receiveFull")
        )

    def arrive() -> list[str]:
        rmas, _ = fetch_open_rmas(merchant, ledger=ledger, ams=ams)
        return received_return_ids(record_rmas(merchant, rmas, ledger=ledger))

    with_task_retries(arrive)
    for i in ids:
        with_task_retries(
            lambda i=i: complete_return(merchant, i, ledger=ledger, returnly=returnly, ams=ams)
        )
    stack.faults("returnly")
    stack.faults("ams")
    assert _rma_count(ams) == {customer_identifier_for(i): 1 for i in ids}
    assert [stack.refund_count(i) for i in ids] == [1] * N
    stages_now = {ledger.get_link(merchant.name, return_id=i).stage for i in ids}  # type: ignore[union-attr]
    assert stages_now == {stages.REFUNDED}


def test_fault_storm_really_injected_faults(stack: Stack, returnly: ReturnlyClient) -> None:
    """Guard for the storm test: the sandbox does inject faults at these rates."""
    stack.plant()
    stack.faults("returnly", seed=11, error_rate=0.25, rate_limit_rate=0.15, retry_after_s=0)
    for _ in range(20):
        with_task_retries(lambda: returnly.list_returns())
    with stack.admin("returnly") as admin:
        injected = admin.get("/_admin/faults").json()["injected"]
    assert injected.get("error", 0) > 0 and injected.get("rate_limit", 0) > 0
