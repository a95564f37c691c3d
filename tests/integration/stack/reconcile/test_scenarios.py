"""Drift planted in the sandboxes is found exactly; a real lifecycle leaves no drift.

Every kind of the taxonomy is planted through the sandboxes' admin endpoints (and the ledger
for the ledger-disagrees kind), next to clean returns, and the report must find exactly the
planted (identity, kind) pairs: precision and recall of 100%.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd  # type: ignore[import-untyped]

from clients.ams import AmsClient
from clients.returnly import ReturnlyClient
from core.mapping import customer_identifier_for as cid
from core.merchant import MerchantConfig
from core.settings import SANDBOX_RETURNLY_TOKEN
from ledger import Ledger
from stages import names as stages
from stages.arrival import fetch_open_rmas, record_rmas
from stages.completion import complete_return
from stages.intake import cancel_return, intake_returns
from stages.reconcile import Window, detect_drift, fetch_frames, plan_healing
from tests.integration.stack.reconcile.planting import (
    OTHER_SKU,
    PRICE,
    SKU,
    ago,
    plant_return,
    plant_rma,
    rma_line,
)
from tests.support.stack import Stack

Pair = tuple[str, str]


def _found(drift: pd.DataFrame) -> set[Pair]:
    return set(zip(drift["customer_identifier"], drift["kind"].astype("str"), strict=True))


def _reconcile(
    merchant: MerchantConfig,
    returnly: ReturnlyClient,
    ams: AmsClient,
    ledger: Ledger,
    now: datetime,
    include_open: bool = True,
) -> pd.DataFrame:
    window = Window(now=now, days=90, include_open=include_open)
    frames = fetch_frames(merchant, window, returnly=returnly, ams=ams, ledger=ledger)
    return detect_drift(merchant, frames, window)


def _plant_every_kind(
    stack: Stack, merchant: MerchantConfig, ledger: Ledger, now: datetime
) -> tuple[set[Pair], set[Pair]]:
    """Plant one case (or more) per drift kind plus clean pairs; answers (in window, older)."""
    name = merchant.name
    recent: set[Pair] = set()
    old: set[Pair] = set()

    rid = plant_return(stack, created=ago(now, days=2))
    recent.add((cid(rid), "authorized_no_rma"))

    plant_rma(stack, "RLY-990001", created=ago(now, days=3))
    recent.add(("RLY-990001", "orphan_rma"))
    wid = plant_rma(
        stack,
        None,
        status="received",
        created=ago(now, days=2),
        received_at=ago(now, days=2),
        lines=[rma_line(received=1)],
    )
    recent.add((f"AMS-{wid}", "orphan_rma"))
    plant_rma(stack, "RLY-990002", created=ago(now, days=200))
    old.add(("RLY-990002", "orphan_rma"))

    rid = plant_return(
        stack, status="delivered", created=ago(now, days=10), updated=ago(now, days=5)
    )
    plant_rma(
        stack,
        cid(rid),
        status="received",
        created=ago(now, days=10),
        updated=ago(now, days=5),
        received_at=ago(now, days=5),
        lines=[rma_line(received=1)],
    )
    ledger.upsert_link(name, rid, cid(rid), stage=stages.IN_TRANSIT)  # the callback was lost
    recent.add((cid(rid), "received_not_refunded"))

    rid = plant_return(
        stack,
        status="refunded",
        created=ago(now, days=10),
        updated=ago(now, days=3),
        refunds=[{"created_at": ago(now, days=3)}],
    )
    plant_rma(stack, cid(rid), created=ago(now, days=10))
    recent.add((cid(rid), "refunded_not_received"))

    rid = plant_return(
        stack, created=ago(now, days=1), lines=[{"sku": SKU, "units": 2, "unit_price": PRICE}]
    )
    plant_rma(stack, cid(rid), created=ago(now, days=1), lines=[rma_line(quantity=1)])
    recent.add((cid(rid), "quantity_mismatch"))

    rid = plant_return(
        stack,
        status="refunded",
        created=ago(now, days=10),
        updated=ago(now, days=2),
        refunds=[{"created_at": ago(now, days=2), "deduction_amount": "5.00"}],
    )
    plant_rma(
        stack,
        cid(rid),
        status="received",
        created=ago(now, days=10),
        received_at=ago(now, days=3),
        lines=[rma_line(received=1)],
    )
    recent.add((cid(rid), "refund_amount_mismatch"))

    rid = plant_return(stack, status="canceled_by_merchant", created=ago(now, days=5))
    plant_rma(stack, cid(rid), created=ago(now, days=5))
    recent.add((cid(rid), "status_mismatch"))

    rid = plant_return(stack, created=ago(now, days=1))
    plant_rma(stack, cid(rid), created=ago(now, days=1), lines=[rma_line(sku=OTHER_SKU)])
    recent.add((cid(rid), "sku_mismatch"))

    rid = plant_return(
        stack, status="in_transit", created=ago(now, days=30), updated=ago(now, days=20)
    )
    plant_rma(
        stack, cid(rid), status="inTransit", created=ago(now, days=30), updated=ago(now, days=20)
    )
    recent.add((cid(rid), "stuck_in_transit"))

    # Older than the window, untouched for 100 days, still open: found through the ledger
    # (Returnly) and the open-status pass (AMS).
    rid = plant_return(
        stack, status="in_transit", created=ago(now, days=120), updated=ago(now, days=100)
    )
    plant_rma(
        stack, cid(rid), status="inTransit", created=ago(now, days=120), updated=ago(now, days=100)
    )
    ledger.upsert_link(name, rid, cid(rid), stage=stages.IN_TRANSIT)
    old.add((cid(rid), "stuck_in_transit"))

    rid = plant_return(stack, created=ago(now, days=1))
    plant_rma(stack, cid(rid), created=ago(now, days=1))
    ledger.upsert_link(name, rid, cid(rid), stage=stages.REFUNDED)
    recent.add((cid(rid), "ledger_disagrees"))

    _plant_clean(stack, name, ledger, now)
    return recent, old


def _plant_clean(stack: Stack, name: str, ledger: Ledger, now: datetime) -> None:
    """Pairs that agree: open, refunded after receipt, and one closed long ago (out of scope)."""
    rid = plant_return(stack, created=ago(now, days=1))
    plant_rma(stack, cid(rid), created=ago(now, days=1))
    ledger.upsert_link(name, rid, cid(rid), stage=stages.RMA_CREATED)

    rid = plant_return(
        stack,
        status="refunded",
        created=ago(now, days=9),
        updated=ago(now, days=4),
        lines=[
            {"sku": SKU, "units": 2, "unit_price": PRICE},
            {"sku": OTHER_SKU, "units": 1, "unit_price": "30.00", "unit_tax": "2.40"},
        ],
        refunds=[{"created_at": ago(now, days=4)}],
    )
    plant_rma(
        stack,
        cid(rid),
        status="received",
        created=ago(now, days=9),
        received_at=ago(now, days=5),
        lines=[rma_line(quantity=2, received=2), rma_line(sku=OTHER_SKU, received=1)],
    )
    ledger.upsert_link(name, rid, cid(rid), stage=stages.REFUNDED)

    rid = plant_return(
        stack,
        status="refunded",
        created=ago(now, days=200),
        updated=ago(now, days=150),
        refunds=[{"created_at": ago(now, days=150)}],
    )
    plant_rma(
        stack,
        cid(rid),
        status="received",
        created=ago(now, days=200),
        received_at=ago(now, days=160),
        lines=[rma_line(received=1)],
    )


def test_every_planted_drift_kind_is_found_exactly(
    stack: Stack,
    merchant: MerchantConfig,
    returnly: ReturnlyClient,
    ams: AmsClient,
    ledger: Ledger,
) -> None:
    now = datetime.now(UTC)
    recent, old = _plant_every_kind(stack, merchant, ledger, now)
    expected = recent | old
    drift = _reconcile(merchant, returnly, ams, ledger, now)

    found = _found(drift)
    precision = len(found & expected) / len(found)
    recall = len(found & expected) / len(expected)
    assert (precision, recall) == (1.0, 1.0), (found - expected, expected - found)
    assert len(drift) == len(expected)  # one row per planted pair, no duplicates
    assert {kind for _, kind in expected} == set(drift["kind"].cat.categories)

    severity = dict(zip(drift["kind"].astype("str"), drift["severity"].astype("str"), strict=False))
    assert severity["refunded_not_received"] == "critical"
    assert drift.iloc[0]["kind"] == "refunded_not_received"  # most severe first
    healable = {(s.customer_identifier, s.kind) for s in plan_healing(drift)}
    assert healable == {
        p for p in expected if p[1] in ("authorized_no_rma", "received_not_refunded")
    }


def test_without_open_items_only_the_window_is_reconciled(
    stack: Stack,
    merchant: MerchantConfig,
    returnly: ReturnlyClient,
    ams: AmsClient,
    ledger: Ledger,
) -> None:
    now = datetime.now(UTC)
    recent, _old = _plant_every_kind(stack, merchant, ledger, now)
    drift = _reconcile(merchant, returnly, ams, ledger, now, include_open=False)
    assert _found(drift) == recent


def test_real_lifecycle_leaves_no_drift(
    stack: Stack,
    merchant: MerchantConfig,
    returnly: ReturnlyClient,
    ams: AmsClient,
    ledger: Ledger,
) -> None:
    ids = [stack.plant(lines=[{"sku": SKU, "units": 1}])["id"] for _ in range(5)]
    ids.append(
        stack.plant(
            lines=[
                {"sku": SKU, "units": 2},
                {"sku": OTHER_SKU, "units": 1, "unit_price": "30.00", "unit_tax": "2.40"},
            ]
        )["id"]
    )
    outcomes = intake_returns(
        merchant, [returnly.get_return(r) for r in ids], ledger=ledger, ams=ams
    )
    assert {o.outcome for o in outcomes} == {"created"}
    for rid in (ids[0], ids[5]):
        ams.trigger_rma_event(cid(rid), "receiveFull")
    ams.trigger_rma_event(cid(ids[1]), "inTransit")
    rmas, missing = fetch_open_rmas(merchant, ledger=ledger, ams=ams)
    assert missing == []
    record_rmas(merchant, rmas, ledger=ledger)
    for rid in (ids[0], ids[5]):
        done = complete_return(merchant, rid, ledger=ledger, returnly=returnly, ams=ams)
        assert done.outcome == "refunded"
    stack.set_status(ids[2], "cancel")
    assert cancel_return(merchant, returnly.get_return(ids[2]), ledger=ledger, ams=ams).outcome == (
        "cancelled"
    )

    drift = _reconcile(merchant, returnly, ams, ledger, datetime.now(UTC))
    assert drift.empty, drift[["customer_identifier", "kind", "detail"]].to_string()
    # ... and the same returns a week later are still clean (the grace periods are not hiding
    # anything: the open ones have their RMAs).
    later = _reconcile(merchant, returnly, ams, ledger, datetime.now(UTC) + pd.Timedelta(days=7))
    assert later.empty, later[["customer_identifier", "kind", "detail"]].to_string()


def test_old_open_return_without_rma_needs_the_server_status_filter(
    stack: Stack,
    merchant: MerchantConfig,
    returnly: ReturnlyClient,
    ams: AmsClient,
    ledger: Ledger,
) -> None:
    now = datetime.now(UTC)
    forgotten = plant_return(stack, created=ago(now, days=150), updated=ago(now, days=140))
    # Behind an old open RMA, the return is found through the RMA even without the filter.
    behind_rma = plant_return(
        stack, status="in_transit", created=ago(now, days=150), updated=ago(now, days=140)
    )
    plant_rma(
        stack,
        cid(behind_rma),
        status="inTransit",
        created=ago(now, days=150),
        updated=ago(now, days=140),
    )
    stuck = (cid(behind_rma), "stuck_in_transit")
    assert _found(_reconcile(merchant, returnly, ams, ledger, now)) == {stuck}

    filtering = ReturnlyClient(
        base_url=stack.returnly_url, api_token=SANDBOX_RETURNLY_TOKEN, send_status_filter=True
    )
    with filtering:
        drift = _reconcile(merchant, filtering, ams, ledger, now)
    assert _found(drift) == {stuck, (cid(forgotten), "authorized_no_rma")}
