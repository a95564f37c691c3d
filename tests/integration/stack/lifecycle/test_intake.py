"""Stage 1 against the sandboxes: RMAs created once, duplicates adopted, problems recorded."""

from __future__ import annotations

from clients.ams import AmsClient
from clients.returnly import ReturnlyClient
from core.mapping import customer_identifier_for
from core.merchant import MerchantConfig
from ledger import Ledger
from sandbox.catalog import UNKNOWN_SKU
from stages import names as stages
from stages.intake import intake_returns
from tests.support.stack import Stack


def _run(merchant, returnly, ams, ledger, ids):
    returns = [returnly.get_return(i) for i in ids]
    return {o.return_id: o for o in intake_returns(merchant, returns, ledger=ledger, ams=ams)}


def test_intake_creates_rma_with_mapped_lines(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    planted = stack.plant(
        rma="R1001",
        lines=[
            {"sku": "TEE-BLACK-M", "units": 1, "ext_order_number": "1001"},
            {"sku": "TEE-BLACK-M", "units": 1, "ext_order_number": "1001"},
            {"sku": "JEAN-NAVY-L", "units": 2, "ext_order_number": "1002"},
        ],
    )
    outcomes = _run(merchant, returnly, ams, ledger, [planted["id"]])
    assert outcomes[planted["id"]].outcome == "created"
    rma = ams.get_rma_by_cid(customer_identifier_for(planted["id"]))
    assert rma is not None and rma.manifest_id == "R1001"
    quantities = {(ln.customer_sku_id, ln.quantity) for ln in rma.line_items}
    assert quantities == {("TEE-BLACK-M", 2), ("JEAN-NAVY-L", 2)}
    link = ledger.get_link(merchant.name, return_id=planted["id"])
    assert link is not None and link.stage == stages.RMA_CREATED


def test_intake_twice_creates_one_rma(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    ids = [stack.plant()["id"] for _ in range(3)]
    first = _run(merchant, returnly, ams, ledger, ids)
    second = _run(merchant, returnly, ams, ledger, ids)
    assert {o.outcome for o in first.values()} == {"created"}
    assert {o.outcome for o in second.values()} == {"already_done"}
    assert len(list(ams.iter_rmas())) == 3


def test_intake_after_lost_ledger_adopts_existing_rma(
    stack: Stack,
    merchant: MerchantConfig,
    returnly: ReturnlyClient,
    ams: AmsClient,
    ledger: Ledger,
    tmp_path,
) -> None:
    """A crash between the AMS create and the ledger write: the rerun reads the RMA back."""
    from ledger import open_ledger

    rid = stack.plant()["id"]
    _run(merchant, returnly, ams, ledger, [rid])
    with open_ledger(f"sqlite:///{tmp_path / 'fresh.db'}") as fresh:
        outcome = _run(merchant, returnly, ams, fresh, [rid])[rid]
        link = fresh.get_link(merchant.name, return_id=rid)
    assert outcome.outcome == "already_done"
    assert link is not None and link.ams_uuid
    assert len(list(ams.iter_rmas())) == 1


def test_intake_holds_return_without_sku(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    rid = stack.plant(lines=[{"sku": None, "units": 1}])["id"]
    outcome = _run(merchant, returnly, ams, ledger, [rid])[rid]
    assert outcome.outcome == "exception"
    [exc] = ledger.list_exceptions(merchant.name)
    assert exc.reason.startswith("mapping:") and "missing_sku" in exc.reason
    assert list(ams.iter_rmas()) == []


def test_intake_records_ams_per_record_failure(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    good = stack.plant()["id"]
    bad = stack.plant(lines=[{"sku": UNKNOWN_SKU, "units": 1}])["id"]
    outcomes = _run(merchant, returnly, ams, ledger, [good, bad])
    assert outcomes[good].outcome == "created"
    assert outcomes[bad].outcome == "exception"
    [exc] = ledger.list_exceptions(merchant.name)
    assert exc.reason == "ams_rejected" and exc.return_id == bad
    assert UNKNOWN_SKU in exc.message or "sku" in exc.message.lower()


def test_intake_skips_requested_and_flags_unknown_status(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    requested = stack.plant(status="requested")["id"]
    odd = stack.plant(status="teleported")["id"]
    outcomes = _run(merchant, returnly, ams, ledger, [requested, odd])
    assert outcomes[requested].outcome == "skipped"
    assert outcomes[odd].outcome == "exception"
    assert [e.reason for e in ledger.list_exceptions(merchant.name)] == ["unknown_return_status"]


def test_cancel_deletes_open_rma(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    rid = stack.plant()["id"]
    _run(merchant, returnly, ams, ledger, [rid])
    stack.set_status(rid, "cancel")
    outcome = _run(merchant, returnly, ams, ledger, [rid])[rid]
    assert outcome.outcome == "cancelled"
    rma = ams.get_rma_by_cid(customer_identifier_for(rid))
    assert rma is None or rma.is_deleted
    assert ledger.get_link(merchant.name, return_id=rid).stage == stages.CANCELLED  # type: ignore[union-attr]
    assert _run(merchant, returnly, ams, ledger, [rid])[rid].outcome == "already_done"


def test_cancel_after_shipping_becomes_exception(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    rid = stack.plant()["id"]
    _run(merchant, returnly, ams, ledger, [rid])
    ams.trigger_rma_event(customer_identifier_for(rid), "inTransit")
    stack.set_status(rid, "cancel")
    outcome = _run(merchant, returnly, ams, ledger, [rid])[rid]
    assert outcome.outcome == "exception"
    assert [e.reason for e in ledger.list_exceptions(merchant.name)] == ["cancel_after_shipped"]
    rma = ams.get_rma_by_cid(customer_identifier_for(rid))
    assert rma is not None and not rma.is_deleted
