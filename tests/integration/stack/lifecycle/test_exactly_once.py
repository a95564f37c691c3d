"""Exactly once under overlap and fault storms: no duplicate RMA, no second refund, none lost."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from clients.ams import AmsClient
from clients.errors import is_retryable
from clients.returnly import RefundCreate, RefundLineItemCreate, ReturnlyClient
from core.mapping import customer_identifier_for
from core.merchant import MerchantConfig
from ledger import Ledger
from stages import names as stages
from stages.arrival import fetch_open_rmas, received_return_ids, record_rmas
from stages.completion import complete_return, refund_lease_key
from stages.intake import cancel_return, intake_returns
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


# --- guards of the bridge's own (the sandboxes accept what a worst-case API accepts) --------


def _requests(stack: Stack, system: str) -> list[dict[str, Any]]:
    """Every API request a sandbox received since the last reset (its own log)."""
    with stack.admin(system) as admin:
        body = admin.get("/_admin/requests", params={"since": 0, "limit": 100_000}).json()
    return list(body["requests"] if isinstance(body, dict) else body)


def _refund_posts(stack: Stack) -> int:
    """Refund POSTs the bridge sent, counted by Returnly's request log (answered or not)."""
    return sum(
        1 for r in _requests(stack, "returnly") if r["method"] == "POST" and "refunds" in r["path"]
    )


def _received(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> list[str]:
    """Plant returns, create their RMAs, receive them in AMS and record the arrival."""
    ids = [stack.plant(lines=[{"units": 1, "unit_price": "20.00"}])["id"] for _ in range(N)]
    intake_returns(merchant, [returnly.get_return(i) for i in ids], ledger=ledger, ams=ams)
    for i in ids:
        ams.trigger_rma_event(customer_identifier_for(i), "receiveFull")
    rmas, _ = fetch_open_rmas(merchant, ledger=ledger, ams=ams)
    assert sorted(received_return_ids(record_rmas(merchant, rmas, ledger=ledger))) == sorted(ids)
    return ids


def test_overlapping_completions_held_at_the_post_refund_once(
    stack: Stack,
    merchant: MerchantConfig,
    returnly: ReturnlyClient,
    ams: AmsClient,
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two runs for one return, both held just before the POST, against a platform that
    accepts a second refund: only the run holding the return's lease may post.

    Fails on the code before leases: both runs posted, two refunds (900001 and 900002).
    """
    rid = _received(stack, merchant, returnly, ams, ledger)[0]
    stack.faults("returnly", refund_idempotency="none")
    at_the_post = threading.Barrier(2, timeout=3)
    real_create = ReturnlyClient.create_refund

    def held_at_post(self: ReturnlyClient, refund: Any, *, idempotency_key: str) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            at_the_post.wait()  # both runs meet here, unless one never gets this far
        return real_create(self, refund, idempotency_key=idempotency_key)

    monkeypatch.setattr(ReturnlyClient, "create_refund", held_at_post)

    def run(_: int) -> str:
        with stack.returnly() as rc, stack.ams() as ac:
            return complete_return(merchant, rid, ledger=ledger, returnly=rc, ams=ac).outcome

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(run, range(2)))
    assert stack.refund_count(rid) == 1
    assert _refund_posts(stack) == 1
    assert outcomes in (["busy", "refunded"], ["already_done", "refunded"])


@pytest.mark.parametrize("mode", ["drop", "500", "hang"])
def test_refund_whose_answer_is_lost_is_read_back_not_posted_again(
    stack: Stack,
    merchant: MerchantConfig,
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    """Returnly makes the refund, then the answer is lost. The bridge reads the return back
    and records the refund it finds (its key is in the note); it does not post again.

    Fails on the code before: the client re-sent the POST, and the platform refunded twice.
    """
    monkeypatch.setenv("BRIDGE_HTTP_READ_TIMEOUT_S", "1")  # "hang" answers after 2 s
    with stack.returnly() as returnly, stack.ams() as ams:
        rid = _received(stack, merchant, returnly, ams, ledger)[0]
        stack.faults(
            "returnly",
            refund_idempotency="none",
            commit_then_fail_rate=1.0,
            commit_then_fail_modes=[mode],
            hang_s=2,
            seed=3,
        )
        outcome = complete_return(merchant, rid, ledger=ledger, returnly=returnly, ams=ams)
    assert outcome.outcome == "refunded", outcome.detail
    assert stack.refund_count(rid) == 1
    time.sleep(2.5 if mode == "hang" else 0)  # a hung request is logged when it answers
    assert _refund_posts(stack) == 1
    (attempt,) = ledger.refunds_for_return(merchant.name, rid)
    assert attempt.status == "succeeded" and attempt.refund_id


def test_refund_lease_of_a_crashed_run_blocks_until_it_runs_out_then_reads_first(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    """A worker took the lease, posted the refund and was killed before recording it."""
    stack.faults("returnly", refund_idempotency="none")
    rid = _received(stack, merchant, returnly, ams, ledger)[0]
    dead = ledger.take_leases(merchant.name, [refund_lease_key(rid)], "dead-worker", ttl_s=1.0)
    assert dead == {refund_lease_key(rid): False}
    planned = complete_return(merchant, rid, ledger=ledger, returnly=returnly, ams=ams)
    assert planned.outcome == "busy" and _refund_posts(stack) == 0
    # What the dead worker did: claim, then POST (the note carries the key, as ours do).
    ret = returnly.get_return(rid)
    line = ret.line_items[0]
    key = "rfd-dead-worker"
    ledger.begin_refund(
        merchant.name, rid, key, [{"return_line_item_id": line.id, "units": line.units}]
    )
    returnly.create_refund(
        RefundCreate(
            rma=ret.rma,
            line_items=[RefundLineItemCreate(return_line_item_id=line.id, units=line.units)],
            note=f"refund key {key}",
        ),
        idempotency_key=key,
    )
    time.sleep(1.2)  # the dead worker's lease runs out
    after = complete_return(merchant, rid, ledger=ledger, returnly=returnly, ams=ams)
    assert after.outcome == "refunded" and "read-back" in after.detail
    assert stack.refund_count(rid) == 1 and _refund_posts(stack) == 1
    assert ledger.get_refund(key).status == "succeeded"  # type: ignore[union-attr]
    assert ledger.lease_holder(merchant.name, refund_lease_key(rid)) is None


def test_rma_create_whose_answer_is_lost_is_read_back_not_posted_again(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    """AMS applies the batch, the answer is lost, and AMS would accept a duplicate.

    Fails on the code before: the task retry posted the batch again (two live RMAs each).
    """
    ids = [stack.plant()["id"] for _ in range(N)]
    returns = [returnly.get_return(i) for i in ids]
    stack.faults(
        "ams",
        duplicate_identifiers="accept",
        commit_then_fail_rate=1.0,
        commit_then_fail_modes=["500"],
        path_contains="/rmas",
        seed=5,
    )
    outcomes = with_task_retries(lambda: intake_returns(merchant, returns, ledger=ledger, ams=ams))
    stack.faults("ams")
    assert _rma_count(ams) == {customer_identifier_for(i): 1 for i in ids}
    posts = [r for r in _requests(stack, "ams") if r["method"] == "POST" and "rmas" in r["path"]]
    assert len(posts) == 1
    assert {o.outcome for o in outcomes} == {"already_done"}
    links = ledger.links_for(merchant.name, return_ids=ids)
    assert {lk.stage for lk in links} == {stages.RMA_CREATED} and len(links) == N


def test_overlapping_intake_runs_create_once_when_ams_accepts_duplicates(
    stack: Stack, merchant: MerchantConfig, ams: AmsClient, ledger: Ledger
) -> None:
    """Three runs over the same returns, AMS accepting a second live RMA per identifier.

    Fails on the code before: every run posted, up to three live RMAs per return.
    """
    stack.faults("ams", duplicate_identifiers="accept")
    test_overlapping_intake_runs_create_each_rma_once(stack, merchant, ams, ledger)


def test_rma_delete_whose_answer_is_lost_is_confirmed_by_reading_back(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    """The DELETE is applied and its answer lost; the client's retry is refused (no longer
    open). Fails on the code before: a cancel_refused exception for a deleted RMA."""
    rid = stack.plant()["id"]
    intake_returns(merchant, [returnly.get_return(rid)], ledger=ledger, ams=ams)
    stack.set_status(rid, "canceled_by_merchant")
    stack.faults(
        "ams",
        commit_then_fail_rate=1.0,
        commit_then_fail_modes=["drop"],
        path_contains="/rmas",
        seed=9,
    )
    outcome = cancel_return(merchant, returnly.get_return(rid), ledger=ledger, ams=ams)
    stack.faults("ams")
    assert outcome.outcome == "cancelled", outcome.detail
    assert ledger.list_exceptions(merchant.name) == []
    assert _rma_count(ams) == {}
