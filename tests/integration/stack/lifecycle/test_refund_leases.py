"""A refund batch's leases: few ledger writes, and a lease another run took is still honoured."""

from __future__ import annotations

import time
from typing import Any

import pytest

from clients.ams import AmsClient
from clients.returnly import ReturnlyClient
from core.merchant import MerchantConfig
from ledger import Ledger
from stages.completion import complete_returns, refund_lease_key
from tests.integration.stack.lifecycle.test_exactly_once import N, _received, _refund_posts
from tests.support.stack import Stack


def _count_renewals(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every ``renew_leases`` write the ledger is asked for, with its number of keys."""
    calls: list[int] = []
    real = Ledger.renew_leases

    def counted(self: Ledger, merchant: str, keys: Any, owner: str, ttl_s: Any = None) -> Any:
        calls.append(len(keys))
        return real(self, merchant, keys, owner, ttl_s)

    monkeypatch.setattr(Ledger, "renew_leases", counted)
    return calls


def test_a_refund_batch_does_not_renew_its_leases_once_per_refund(
    stack: Stack,
    merchant: MerchantConfig,
    returnly: ReturnlyClient,
    ams: AmsClient,
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Twelve refunds in one batch, well inside the lease's time to live: no renewal write.

    Fails on the code before: one ``renew_leases`` write per refund (12), which in the
    5,000-return bench cost about as much time as the refund POSTs themselves.
    """
    ids = _received(stack, merchant, returnly, ams, ledger)
    renewals = _count_renewals(monkeypatch)
    outcomes = complete_returns(merchant, ids, ledger=ledger, returnly=returnly, ams=ams)
    assert [o.outcome for o in outcomes] == ["refunded"] * N
    assert _refund_posts(stack) == N
    assert renewals == []
    assert all(ledger.lease_holder(merchant.name, refund_lease_key(i)) is None for i in ids)


def test_a_lease_that_ran_out_mid_batch_and_was_taken_is_left_to_its_taker(
    stack: Stack,
    merchant: MerchantConfig,
    returnly: ReturnlyClient,
    ams: AmsClient,
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first POST of a batch outlasts the leases' time to live; meanwhile another run
    takes the last return's lease. The batch renews what it still holds in one write, posts
    the rest, and leaves the taken return alone (``busy``: its taker settles it).
    """
    ids = _received(stack, merchant, returnly, ams, ledger)[:3]
    first, middle, last = ids
    real_create = ReturnlyClient.create_refund
    posted: list[str] = []

    def slow_first_post(self: ReturnlyClient, refund: Any, *, idempotency_key: str) -> Any:
        if not posted:
            time.sleep(0.8)  # past the 0.5 s time to live: every lease of the batch ran out
            assert ledger.take_leases(merchant.name, [refund_lease_key(last)], "rival") == {
                refund_lease_key(last): True
            }
        posted.append(refund.rma)
        return real_create(self, refund, idempotency_key=idempotency_key)

    monkeypatch.setattr(ReturnlyClient, "create_refund", slow_first_post)
    renewals = _count_renewals(monkeypatch)
    outcomes = complete_returns(
        merchant, ids, ledger=ledger, returnly=returnly, ams=ams, lease_ttl_s=0.5
    )
    assert [o.outcome for o in outcomes] == ["refunded", "refunded", "busy"]
    assert [stack.refund_count(i) for i in ids] == [1, 1, 0]
    assert _refund_posts(stack) == 2
    assert renewals == [3]  # one write for the whole batch; the rival's key came back lost
    holder = ledger.lease_holder(merchant.name, refund_lease_key(last))
    assert holder is not None and holder[0] == "rival"
    assert ledger.lease_holder(merchant.name, refund_lease_key(first)) is None
    assert ledger.lease_holder(merchant.name, refund_lease_key(middle)) is None
