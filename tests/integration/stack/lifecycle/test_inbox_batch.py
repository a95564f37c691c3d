"""A burst of webhooks handled as one batch: one AMS write and one AMS read per 30 returns.

Counted from the AMS sandbox's own request log, so a regression to one request per message
fails here.
"""

from __future__ import annotations

from clients.ams import AmsClient
from clients.returnly import ReturnlyClient
from core.mapping import customer_identifier_for
from core.merchant import MerchantConfig
from ledger import Ledger
from ledger.inbox import SOURCE_AMS, SOURCE_RETURNLY
from stages import names as stages
from stages.inbox import process_inbox_batch
from tests.integration.stack.lifecycle.test_exactly_once import _refund_posts, _requests
from tests.support.stack import Stack

N = 25


def _count(stack: Stack, method: str, needle: str) -> int:
    return sum(1 for r in _requests(stack, "ams") if r["method"] == method and needle in r["path"])


def test_a_burst_of_hints_costs_one_ams_write_and_one_ams_read(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    ids = [stack.plant(lines=[{"units": 1, "unit_price": "12.00"}])["id"] for _ in range(N)]
    for rid in ids:
        ledger.put_inbox(SOURCE_RETURNLY, f"wh-{rid}", merchant.name, "return.authorized", rid, {})
    posts_before = _count(stack, "POST", "/rmas")
    outcomes = process_inbox_batch(
        merchant,
        SOURCE_RETURNLY,
        [f"wh-{rid}" for rid in ids],
        ledger=ledger,
        returnly=returnly,
        ams=ams,
    )
    assert [o.outcome for o in outcomes] == ["created"] * N
    assert _count(stack, "POST", "/rmas") - posts_before == 1
    assert {ledger.get_inbox(SOURCE_RETURNLY, f"wh-{rid}").status for rid in ids} == {  # type: ignore[union-attr]
        "processed"
    }

    for rid in ids:
        ams.trigger_rma_event(customer_identifier_for(rid), "receiveFull")
    links = {lk.return_id: lk for lk in ledger.links_for(merchant.name, return_ids=ids)}
    rmas = {r.customer_identifier: r for r in ams.iter_rmas()}
    for rid in ids:
        cid = customer_identifier_for(rid)
        assert links[rid].customer_identifier == cid
        ledger.put_inbox(
            SOURCE_AMS, f"cb-{rid}", merchant.name, "rmaEvent", cid, {"rma_id": rmas[cid].id}
        )
    gets_before = _count(stack, "GET", "/rmas")
    outcomes = process_inbox_batch(
        merchant,
        SOURCE_AMS,
        [f"cb-{rid}" for rid in ids],
        ledger=ledger,
        returnly=returnly,
        ams=ams,
    )
    assert _count(stack, "GET", "/rmas") - gets_before == 1  # 25 ids in one GET, no re-read
    assert sorted(o.return_id for o in outcomes if o.outcome == "refunded") == sorted(ids)
    assert _refund_posts(stack) == N
    stages_now = {lk.stage for lk in ledger.links_for(merchant.name, return_ids=ids)}
    assert stages_now == {stages.REFUNDED}


def test_a_failed_batch_marks_every_message_failed_and_loses_none(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    ids = [stack.plant()["id"] for _ in range(3)]
    for rid in ids:
        ledger.put_inbox(SOURCE_RETURNLY, f"wh-{rid}", merchant.name, "return.authorized", rid, {})
    stack.faults("ams", fail_first_n=100, error_status=503, path_contains="/rmas")
    try:
        process_inbox_batch(
            merchant,
            SOURCE_RETURNLY,
            [f"wh-{rid}" for rid in ids],
            ledger=ledger,
            returnly=returnly,
            ams=ams,
        )
    except Exception as exc:
        assert "503" in str(exc)
    else:
        raise AssertionError("the batch should have failed")
    stack.faults("ams")
    rows = [ledger.get_inbox(SOURCE_RETURNLY, f"wh-{rid}") for rid in ids]
    assert {row.status for row in rows if row} == {"failed"}
    again = process_inbox_batch(
        merchant,
        SOURCE_RETURNLY,
        [f"wh-{rid}" for rid in ids],
        ledger=ledger,
        returnly=returnly,
        ams=ams,
    )
    assert [o.outcome for o in again] == ["created"] * 3
