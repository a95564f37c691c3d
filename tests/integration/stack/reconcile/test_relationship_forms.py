"""The reconciliation reads Returnly the same whichever form an empty to-one relationship takes.

The sandbox renders ``instant_refund_voucher`` of a return without a voucher as absent (the
default), ``{"data": []}`` or ``{"data": null}`` (``PUT /_admin/settings``). Listing pages
(phase 1) and single returns read by id (phase 2: an old open return behind a ledger link)
must give the same frame rows and the same drift in each form.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from clients.ams import AmsClient
from clients.returnly import ReturnlyClient
from core.mapping import customer_identifier_for as cid
from core.merchant import MerchantConfig
from core.settings import SANDBOX_RETURNLY_TOKEN
from ledger import Ledger
from sandbox.returnly.render import EMPTY_TO_ONE_FORMS
from stages import names as stages
from stages.reconcile import Window, detect_drift, fetch_frames
from tests.integration.stack.reconcile.planting import (
    PRICE,
    SKU,
    ago,
    plant_return,
    plant_rma,
    rma_line,
)
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

TOKEN = {"X-Api-Token": SANDBOX_RETURNLY_TOKEN}


@pytest.mark.parametrize("form", EMPTY_TO_ONE_FORMS)
def test_frames_and_drift_do_not_depend_on_the_empty_relationship_form(
    stack: Stack,
    merchant: MerchantConfig,
    returnly: ReturnlyClient,
    ams: AmsClient,
    ledger: Ledger,
    form: str,
) -> None:
    with stack.admin("returnly") as admin:
        admin.put("/_admin/settings", json={"empty_to_one": form}).raise_for_status()
    now = datetime.now(UTC)
    exchanged = plant_return(
        stack,
        created=ago(now, days=2),
        is_exchange=True,
        lines=[{"sku": SKU, "units": 2, "unit_price": PRICE}],
        voucher={"credit_issued_amount": "56.00", "credit_spent_amount": "40.00"},
        repurchases=[{"total_order_amount": "40.00"}],
    )
    refunded = plant_return(
        stack,
        status="refunded",
        created=ago(now, days=3),
        updated=ago(now, days=1),
        refunds=[{"created_at": ago(now, days=1), "deduction_amount": "3.00"}],
    )
    plant_rma(
        stack,
        cid(refunded),
        status="received",
        created=ago(now, days=3),
        received_at=ago(now, days=2),
        lines=[rma_line(received=1)],
    )
    old = plant_return(
        stack, status="in_transit", created=ago(now, days=200), updated=ago(now, days=150)
    )
    ledger.upsert_link(merchant.name, old, cid(old), stage=stages.IN_TRANSIT)
    with stack.admin("returnly") as admin:
        rendered = admin.get(f"/returns/{refunded}.json", headers=TOKEN).json()
    assert ("instant_refund_voucher" in rendered["data"]["relationships"]) is (form != "absent")

    window = Window(now=now, days=90, include_open=True)
    frames = fetch_frames(merchant, window, returnly=returnly, ams=ams, ledger=ledger)
    drift = detect_drift(merchant, frames, window)

    assert frames.returns_by_id == 1
    rows = frames.returnly.sort_values(["return_id", "sku"])
    assert rows[
        ["return_id", "status", "sku", "units_returned", "units_refunded", "refund_amount"]
    ].values.tolist() == [
        [exchanged, "authorized", SKU, 2, 0, 0.0],
        [refunded, "refunded", SKU, 1, 1, 25.0],
        [old, "in_transit", SKU, 1, 0, 0.0],
    ]
    assert rows["unit_price"].tolist() == [28.0, 28.0, 28.0]
    assert rows["refunded_at"].notna().tolist() == [False, True, False]
    found = set(zip(drift["customer_identifier"], drift["kind"].astype("str"), strict=True))
    assert found == {
        (cid(exchanged), "authorized_no_rma"),
        (cid(refunded), "refund_amount_mismatch"),  # the 3.00 deduction
        (cid(old), "authorized_no_rma"),
        (cid(old), "stuck_in_transit"),
        (cid(old), "ledger_disagrees"),
    }
