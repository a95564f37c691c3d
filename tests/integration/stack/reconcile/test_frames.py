"""Mapping API records into the drift frames, the window and the healing plan (no sandbox)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
import pytest

from clients.ams import Rma
from clients.returnly import Return
from core.drift import AMS_LINES, LEDGER, RETURNLY_LINES, validate_frame
from core.policy import REFUND, MerchantPolicy
from ledger import Link
from stages.reconcile import (
    Window,
    check_fail_above,
    identity_of,
    ledger_frame,
    plan_healing,
    return_id_for_identifier,
    returns_frame,
    rmas_frame,
    split_refunds,
)

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def _return(**fields: Any) -> Return:
    data: dict[str, Any] = {
        "id": "101",
        "rma": "R101",
        "status": "authorized",
        "created_at": NOW - timedelta(days=2),
        "updated_at": NOW - timedelta(days=1),
        "line_items": [
            {"id": "L1", "sku": "TEE-BLACK-M", "units": 2, "estimated_refund_amount": "56.00"},
            {"id": "L2", "sku": "TEE-BLACK-S", "units": 1, "estimated_refund_amount": "30.00"},
        ],
        **fields,
    }
    return Return.model_validate(data)


def _refund(lines: list[tuple[str, int, str | None]] | None, total: str | None) -> dict[str, Any]:
    items = [
        {"return_line_item_id": lid, "units": units, "amount": amount}
        for lid, units, amount in lines or []
    ]
    return {
        "id": "F1",
        "refund_amount": total,
        "created_at": NOW - timedelta(hours=5),
        "line_items": items,
    }


def _rma(**fields: Any) -> Rma:
    data: dict[str, Any] = {
        "id": "a-1",
        "customer_identifier": "RLY-101",
        "status": "received",
        "created_at": NOW - timedelta(days=2),
        "updated_at": NOW - timedelta(days=1),
        "received_at": NOW - timedelta(days=1),
        "line_items": [],
        **fields,
    }
    return Rma.model_validate(data)


def test_refund_line_items_give_units_and_amounts_per_line() -> None:
    ret = _return(refunds=[_refund([("L1", 2, "56.00"), ("L2", 1, "30.00")], "81.00")])
    split = split_refunds(ret)
    assert split.units == {"L1": 2, "L2": 1}
    # The 5.00 deduction comes off the refund's first line: the total is what Returnly paid.
    assert split.amounts == {"L1": 51.0, "L2": 30.0}
    assert not split.every_unit
    assert split.refunded_at == NOW - timedelta(hours=5)


@pytest.mark.parametrize(
    ("refunds", "refund_amount", "units", "amounts"),
    [
        pytest.param([_refund(None, "86.00")], None, [2, 1], [86.0, 0.0], id="no-line-detail"),
        pytest.param([], "40.00", [2, 1], [40.0, 0.0], id="return-level-amount-only"),
        pytest.param(
            [_refund([("L2", 1, None)], "30.00")], None, [0, 1], [0.0, 30.0], id="total-only"
        ),
        pytest.param([], None, [0, 0], [0.0, 0.0], id="not-refunded"),
    ],
)
def test_refunds_without_detail_fall_back_to_the_first_line(
    refunds: list[dict[str, Any]], refund_amount: str | None, units: list[int], amounts: list[float]
) -> None:
    frame = returns_frame("acme", [_return(refunds=refunds, refund_amount=refund_amount)])
    assert frame["units_refunded"].tolist() == units
    assert frame["refund_amount"].tolist() == amounts


def test_returns_frame_is_line_level_with_schema_dtypes() -> None:
    frame = returns_frame("acme", [_return(), _return(id="102", line_items=[])])
    validate_frame(frame, RETURNLY_LINES, "returnly")
    assert frame["customer_identifier"].tolist() == ["RLY-101", "RLY-101", "RLY-102"]
    assert frame["unit_price"].tolist() == [28.0, 30.0, 0.0]
    assert frame["units_returned"].tolist() == [2, 1, 0]
    assert frame["sku"].isna().tolist() == [False, False, True]
    assert frame["refunded_at"].isna().all()
    assert str(frame["created_at"].dtype) == "datetime64[ns, UTC]"


def test_empty_inputs_give_empty_valid_frames() -> None:
    validate_frame(returns_frame("acme", []), RETURNLY_LINES, "returnly")
    validate_frame(rmas_frame("acme", [], MerchantPolicy(), NOW), AMS_LINES, "ams")
    validate_frame(ledger_frame("acme", [], set()), LEDGER, "ledger")


def _line(sku: str, quantity: int, details: dict[str, int] | None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"customer_sku_id": sku, "quantity": quantity, **extra}
    if details is not None:
        out["receiving_details"] = {s: [{"quantity": n}] for s, n in details.items()}
    return out


def test_receipt_is_split_by_what_the_policy_refunds_in_full() -> None:
    rma = _rma(
        line_items=[
            _line("A", 3, {"available": 1, "qc": 1, "damaged": 1}, quantity_received=3),
            _line("B", 2, None, quantity_received=2),
            _line("C", 0, {"available": 1}, not_on_original_rma=True, quantity_received=1),
        ]
    )
    default = rmas_frame("acme", [rma], MerchantPolicy(), NOW)
    validate_frame(default, AMS_LINES, "ams")
    assert default["quantity_received"].tolist() == [3, 2, 1]
    assert default["units_sellable"].tolist() == [1, 0, 1]
    assert default["units_non_sellable"].tolist() == [2, 2, 0]
    assert default["quantity"].tolist() == [3, 2, 0]
    assert default["not_on_original_rma"].tolist() == [False, False, True]
    generous = MerchantPolicy(inventory_status_policy={"qc": REFUND})
    assert rmas_frame("acme", [rma], generous, NOW)["units_sellable"].tolist() == [2, 0, 1]


def test_receiving_details_win_over_quantity_received() -> None:
    rma = _rma(line_items=[_line("A", 2, {"available": 2}, quantity_received=1)])
    frame = rmas_frame("acme", [rma], MerchantPolicy(), NOW)
    assert frame[["quantity_received", "units_sellable"]].values.tolist() == [[2, 2]]


def test_warehouse_created_rma_gets_its_own_identity() -> None:
    rma = _rma(customer_identifier=None, status=None, created_at=None, updated_at=None)
    frame = rmas_frame("acme", [rma], MerchantPolicy(), NOW)
    assert identity_of(rma) == "AMS-a-1"
    assert frame["customer_identifier"].tolist() == ["AMS-a-1"]
    assert frame["status"].tolist() == ["unknown"]
    assert frame["sku"].isna().all() and frame["quantity"].tolist() == [0]
    assert frame["created_at"].tolist() == [pd.Timestamp(NOW - timedelta(days=1))]


@pytest.mark.parametrize(
    ("stage", "refunded", "rma_created"),
    [
        pytest.param("new", False, False, id="new"),
        pytest.param("intake_exception", False, False, id="intake-exception"),
        pytest.param("rma_created", False, True, id="rma-created"),
        pytest.param("received", False, True, id="received"),
        pytest.param("held", False, True, id="held"),
        pytest.param("partially_refunded", True, True, id="partially-refunded"),
        pytest.param("refunded", True, True, id="refunded"),
        pytest.param("cancelled", False, False, id="cancelled"),
        pytest.param("cancel_exception", False, True, id="cancel-refused"),
    ],
)
def test_ledger_stage_says_refunded_and_rma_created(
    stage: str, refunded: bool, rma_created: bool
) -> None:
    link = Link(merchant="acme", return_id="7", customer_identifier="RLY-7", stage=stage)
    frame = ledger_frame("acme", [link], set())
    assert frame[["refunded", "rma_created"]].values.tolist() == [[refunded, rma_created]]


def test_finished_refund_attempt_marks_the_ledger_refunded() -> None:
    link = Link(merchant="acme", return_id="7", customer_identifier="RLY-7", stage="received")
    assert ledger_frame("acme", [link], {"7"})["refunded"].tolist() == [True]


@pytest.mark.parametrize(
    ("identifier", "return_id"),
    [("RLY-123", "123"), ("RLY-H-abc", None), ("WH-55", None), ("RLY-", None)],
)
def test_return_id_for_identifier(identifier: str, return_id: str | None) -> None:
    assert return_id_for_identifier(identifier) == return_id


def test_window_scope_and_validation() -> None:
    window = Window(now=NOW, days=90)
    assert window.start == NOW - timedelta(days=90)
    old = NOW - timedelta(days=100)
    assert window.covers_return(NOW - timedelta(days=1), "refunded")
    assert window.covers_return(old, "in_transit")
    assert not window.covers_return(old, "refunded")
    assert not Window(now=NOW, include_open=False).covers_return(old, "in_transit")
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="days"):
        Window(now=NOW, days=0)


def _drift(rows: list[tuple[str, str, bool]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_identifier": [r[0] for r in rows],
            "return_id": [r[0].removeprefix("RLY-") for r in rows],
            "ams_id": [None] * len(rows),
            "kind": pd.Categorical([r[1] for r in rows]),
            "healable": [r[2] for r in rows],
        }
    )


def test_healing_plans_only_safe_rows() -> None:
    drift = _drift(
        [
            ("RLY-1", "authorized_no_rma", True),
            ("RLY-2", "received_not_refunded", True),
            ("RLY-3", "received_not_refunded", False),  # ambiguous elsewhere on the return
            ("RLY-4", "orphan_rma", False),
            ("RLY-5", "received_not_refunded", True),
            ("RLY-5", "refunded_not_received", True),  # money out: never, even if marked
            ("RLY-6", "refunded_not_received", True),
        ]
    )
    steps = plan_healing(drift)
    assert [(s.customer_identifier, s.action, s.outcome) for s in steps] == [
        ("RLY-1", "intake", "planned"),
        ("RLY-2", "completion", "planned"),
    ]
    assert plan_healing(drift.iloc[0:0]) == []


def test_fail_above_keys_are_checked_up_front() -> None:
    assert check_fail_above({"critical": 0, "orphan_rma": 3, "total": 10}) == {
        "critical": 0,
        "orphan_rma": 3,
        "total": 10,
    }
    assert check_fail_above(None) == {}
    with pytest.raises(ValueError, match="unknown key"):
        check_fail_above({"severe": 1})
    with pytest.raises(ValueError, match="negative"):
        check_fail_above({"high": -1})
