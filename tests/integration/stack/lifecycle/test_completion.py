"""Stages 2 and 3 against the sandboxes: receipts recorded, refunds posted exactly once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clients.ams import AmsClient
from clients.returnly import (
    Refund,
    RefundCreate,
    RefundLineItemCreate,
    ReturnlyClient,
)
from core.mapping import customer_identifier_for
from core.merchant import MerchantConfig
from ledger import Ledger
from stages import names as stages
from stages.arrival import fetch_open_rmas, received_return_ids, record_rmas
from stages.completion import complete_return, complete_returns
from stages.intake import intake_returns
from tests.support.stack import Stack


def _intake(stack, merchant, returnly, ams, ledger, **spec) -> str:
    rid = stack.plant(**spec)["id"]
    intake_returns(merchant, [returnly.get_return(rid)], ledger=ledger, ams=ams)
    return rid


def _arrive(merchant, ams, ledger) -> list[str]:
    rmas, missing = fetch_open_rmas(merchant, ledger=ledger, ams=ams)
    assert missing == []
    return received_return_ids(record_rmas(merchant, rmas, ledger=ledger))


def _complete(merchant, rid, ledger, returnly, ams):
    return complete_return(merchant, rid, ledger=ledger, returnly=returnly, ams=ams)


def test_full_receipt_refunds_once(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    rid = _intake(
        stack, merchant, returnly, ams, ledger, lines=[{"units": 2, "unit_price": "30.00"}]
    )
    ams.trigger_rma_event(customer_identifier_for(rid), "receiveFull")
    assert _arrive(merchant, ams, ledger) == [rid]
    outcome = _complete(merchant, rid, ledger, returnly, ams)
    assert outcome.outcome == "refunded"
    assert stack.refund_count(rid) == 1
    ret = returnly.get_return(rid)
    assert ret.status == "refunded" and ret.refund_amount == Decimal("60.00")
    assert _complete(merchant, rid, ledger, returnly, ams).outcome == "already_done"
    assert stack.refund_count(rid) == 1
    assert ledger.get_link(merchant.name, return_id=rid).stage == stages.REFUNDED  # type: ignore[union-attr]


def test_arrival_records_progress_and_never_goes_back(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    rid = _intake(stack, merchant, returnly, ams, ledger)
    ams.trigger_rma_event(customer_identifier_for(rid), "inTransit")
    assert _arrive(merchant, ams, ledger) == []
    link = ledger.get_link(merchant.name, return_id=rid)
    assert link is not None and link.stage == stages.IN_TRANSIT and link.ams_uuid
    ams.trigger_rma_event(customer_identifier_for(rid), "receiveFull")
    assert _arrive(merchant, ams, ledger) == [rid]
    # A late (reordered) in-transit record must not undo the receipt.
    stale = ams.get_rma_by_cid(customer_identifier_for(rid)).model_copy(
        update={"status": "inTransit"}
    )  # type: ignore[union-attr]
    record_rmas(merchant, [stale], ledger=ledger)
    assert ledger.get_link(merchant.name, return_id=rid).stage == stages.RECEIVED  # type: ignore[union-attr]
    statuses = [e.outcome for e in ledger.history(merchant.name, rid) if e.stage == "arrival"]
    assert statuses == ["inTransit", "received"]


def test_partial_receipt_refunds_what_arrived(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    rid = _intake(
        stack,
        merchant,
        returnly,
        ams,
        ledger,
        lines=[{"sku": "TEE-BLACK-M", "units": 3, "unit_price": "10.00"}],
    )
    ams.trigger_rma_event(customer_identifier_for(rid), "receivePartial")
    _arrive(merchant, ams, ledger)
    rma = ams.get_rma_by_cid(customer_identifier_for(rid))
    got = sum(ln.quantity_received or 0 for ln in rma.line_items)  # type: ignore[union-attr]
    outcome = _complete(merchant, rid, ledger, returnly, ams)
    if got == 0:
        assert outcome.outcome == "held"
        assert stack.refund_count(rid) == 0
    else:
        assert outcome.outcome == "refunded"
        assert returnly.get_return(rid).refund_amount == Decimal("10.00") * got
        link = ledger.get_link(merchant.name, return_id=rid)
        assert link is not None and link.stage == stages.PARTIALLY_REFUNDED


def test_damaged_units_held_for_review(
    stack: Stack, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    strict = stack.merchant(inventory_status_policy={})  # only 'available' refunds
    rid = _intake(stack, strict, returnly, ams, ledger, lines=[{"units": 1}])
    ams.trigger_rma_event(customer_identifier_for(rid), "receiveFull")  # filed under 'qc'
    _arrive(strict, ams, ledger)
    outcome = _complete(strict, rid, ledger, returnly, ams)
    assert outcome.outcome == "held"
    assert stack.refund_count(rid) == 0
    assert any(e.reason.startswith("held:") for e in ledger.list_exceptions(strict.name))


def test_unexpected_items_flagged(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    rid = _intake(stack, merchant, returnly, ams, ledger)
    ams.trigger_rma_event(customer_identifier_for(rid), "receiveUnexpected")
    _arrive(merchant, ams, ledger)
    _complete(merchant, rid, ledger, returnly, ams)
    reasons = {e.reason for e in ledger.list_exceptions(merchant.name)}
    assert "not_on_original_rma" in reasons
    assert stack.refund_count(rid) == 1


def test_undeliverable_flagged(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    rid = _intake(stack, merchant, returnly, ams, ledger)
    ams.trigger_rma_event(customer_identifier_for(rid), "undeliverable")
    _arrive(merchant, ams, ledger)
    assert [e.reason for e in ledger.list_exceptions(merchant.name)] == ["undeliverable"]


def test_crash_after_refund_post_is_recorded_not_repeated(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    """The refund was posted but the worker died before the ledger write."""
    planted = stack.plant(lines=[{"units": 1}])
    rid = planted["id"]
    intake_returns(merchant, [returnly.get_return(rid)], ledger=ledger, ams=ams)
    ams.trigger_rma_event(customer_identifier_for(rid), "receiveFull")
    _arrive(merchant, ams, ledger)
    line_id = planted["line_item_ids"][0]
    ledger.begin_refund(
        merchant.name, rid, "rfd-crashed", [{"return_line_item_id": line_id, "units": 1}]
    )
    returnly.create_refund(
        RefundCreate(
            rma=planted["rma"],
            line_items=[
                RefundLineItemCreate(return_line_item_id=planted["line_item_ids"][0], units=1)
            ],
        ),
        idempotency_key="rfd-crashed",
    )
    outcome = _complete(merchant, rid, ledger, returnly, ams)
    assert outcome.outcome == "already_done"
    assert stack.refund_count(rid) == 1
    assert ledger.get_refund("rfd-crashed").status == "already_refunded"  # type: ignore[union-attr]


class WorkerDied(Exception):
    """Stands for the process dying in the middle of a batch."""


def test_batch_records_refunds_made_before_a_later_one_fails(
    stack: Stack,
    merchant: MerchantConfig,
    returnly: ReturnlyClient,
    ams: AmsClient,
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch that dies on its second refund still records the first: a retry skips it."""
    rids = [_intake(stack, merchant, returnly, ams, ledger) for _ in range(3)]
    for rid in rids:
        ams.trigger_rma_event(customer_identifier_for(rid), "receiveFull")
    assert sorted(_arrive(merchant, ams, ledger)) == sorted(rids)
    real_create = returnly.create_refund
    calls: list[str] = []

    def second_fails(refund: RefundCreate, *, idempotency_key: str) -> Refund:
        calls.append(idempotency_key)
        if len(calls) == 2:
            raise WorkerDied("the worker died during the second POST")
        return real_create(refund, idempotency_key=idempotency_key)

    monkeypatch.setattr(returnly, "create_refund", second_fails)
    with pytest.raises(WorkerDied):
        complete_returns(merchant, rids, ledger=ledger, returnly=returnly, ams=ams)
    first = ledger.refunds_for_return(merchant.name, rids[0])
    assert [a.status for a in first] == ["succeeded"]
    assert ledger.get_link(merchant.name, return_id=rids[0]).stage == stages.REFUNDED  # type: ignore[union-attr]
    assert [a.status for a in ledger.refunds_for_return(merchant.name, rids[1])] == ["pending"]
    monkeypatch.setattr(returnly, "create_refund", real_create)
    again = complete_returns(merchant, rids, ledger=ledger, returnly=returnly, ams=ams)
    assert [o.outcome for o in again] == ["already_done", "refunded", "refunded"]
    assert [stack.refund_count(rid) for rid in rids] == [1, 1, 1]
