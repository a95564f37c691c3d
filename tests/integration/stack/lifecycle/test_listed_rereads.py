"""Completion re-reads a refund batch's returns by listing them (``min_updated_at`` from the
oldest ``updated_at`` intake saw), not one ``GET /returns/{id}.json`` each; counted from the
Returnly sandbox's request log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from clients.ams import AmsClient
from clients.returnly import RefundCreate, RefundLineItemCreate, ReturnlyClient
from core.merchant import MerchantConfig
from ledger import Ledger, LinkChange
from ledger.models import Link
from stages.completion import complete_returns, in_reread_order
from tests.integration.stack.lifecycle.test_exactly_once import (
    N,
    _received,
    _refund_posts,
    _requests,
)
from tests.support.stack import Stack


def _gets(stack: Stack, since: int) -> list[str]:
    """Returnly GETs since log entry ``since``: ``list`` (a page of returns) or ``one``."""
    return [
        "list" if r["path"].endswith("/returns.json") else "one"
        for r in _requests(stack, "returnly")[since:]
        if r["method"] == "GET"
    ]


def test_a_refund_batch_rereads_its_returns_in_one_listing(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    """Twelve received returns, one batch: one page of the list, no GET per return.

    Fails on the code before: twelve ``GET /returns/{id}.json`` (1.70 Returnly requests per
    return in the 5,000-return bench against a minimum of 0.87).
    """
    ids = _received(stack, merchant, returnly, ams, ledger)
    start = len(_requests(stack, "returnly"))
    outcomes = complete_returns(merchant, ids, ledger=ledger, returnly=returnly, ams=ams)
    assert [o.outcome for o in outcomes] == ["refunded"] * N
    assert _gets(stack, start) == ["list"]
    assert _refund_posts(stack) == N


def test_a_return_refunded_by_hand_after_intake_is_seen_by_the_listing(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    """The merchant refunds one return in Returnly after its RMA was made: its ``updated_at``
    moves past what intake saw, so the listing from that value still finds it, as it is now,
    and the bridge settles it from the refund it shows instead of posting a second one."""
    ids = _received(stack, merchant, returnly, ams, ledger)
    by_hand = returnly.get_return(ids[0])
    returnly.create_refund(
        RefundCreate(
            rma=by_hand.rma,
            line_items=[
                RefundLineItemCreate(return_line_item_id=ln.id, units=ln.units)
                for ln in by_hand.line_items
            ],
            note="refunded by hand in Returnly",
        ),
        idempotency_key="by-hand",
    )
    start = len(_requests(stack, "returnly"))
    outcomes = {
        o.return_id: o.outcome
        for o in complete_returns(merchant, ids, ledger=ledger, returnly=returnly, ams=ams)
    }
    assert outcomes.pop(ids[0]) == "already_done"
    assert set(outcomes.values()) == {"refunded"}
    assert stack.refund_count(ids[0]) == 1
    assert _refund_posts(stack) == N  # the one by hand and eleven by the bridge
    assert _gets(stack, start) == ["list"]


def test_links_written_before_the_timestamp_was_kept_are_read_one_by_one(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    """A ledger from before ``platform_updated_at`` has no lower bound to list from: one GET
    per return, as before, and every refund still made once."""
    ids = _received(stack, merchant, returnly, ams, ledger)
    with ledger._write() as session:  # an older ledger's rows, made by hand
        session.execute(update(Link).values(platform_updated_at=None))
    start = len(_requests(stack, "returnly"))
    outcomes = complete_returns(merchant, ids, ledger=ledger, returnly=returnly, ams=ams)
    assert [o.outcome for o in outcomes] == ["refunded"] * N
    assert _gets(stack, start) == ["one"] * N
    assert _refund_posts(stack) == N


def test_arrival_batches_follow_the_platform_updated_at_order(
    merchant: MerchantConfig, ledger: Ledger
) -> None:
    """Received returns are ordered by the ``updated_at`` intake saw (unknown last, each once),
    so the batches cut from them are narrow slices of Returnly's list."""
    base = datetime(2026, 11, 1, tzinfo=UTC)
    ledger.record_changes(
        merchant.name,
        [
            LinkChange("late", "RLY-late", platform_updated_at=base + timedelta(days=2)),
            LinkChange("early", "RLY-early", platform_updated_at=base),
            LinkChange("unknown", "RLY-unknown"),
            LinkChange("middle", "RLY-middle", platform_updated_at=base + timedelta(days=1)),
        ],
    )
    given = ledger.links_for(merchant.name, return_ids=["late", "unknown"])
    order = in_reread_order(ledger, merchant.name, ["middle", "late", "early", "middle"], given)
    assert order == ["early", "middle", "late", "unknown"]
