"""The refund idempotency key and the Returnly refund request built from a decision."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from core.refunds import RefundLine, decide_refund, refund_key
from tests.unit.core.factories import (
    TRACKING,
    deduct,
    label,
    line,
    policy,
    returnly_return,
    rma,
    rma_line,
)


def refund_line(line_id: str, units: int, prior: int = 0) -> RefundLine:
    return RefundLine(
        return_line_item_id=line_id,
        sku="TEE-BLACK-M",
        units=units,
        amount=Decimal("1.00"),
        previously_refunded=prior,
    )


def test_refund_key_same_decision_same_key() -> None:
    ret = returnly_return(line("L1", units=2), line("L2", "CAP-NAVY-S"))
    receipt = rma(
        rma_line(quantity=2, received={"available": 2}),
        rma_line("CAP-NAVY-S", received={"available": 1}),
    )

    first = decide_refund(ret, receipt, policy())
    second = decide_refund(ret.model_copy(deep=True), receipt.model_copy(deep=True), policy())

    assert first.refund_key is not None
    assert first.refund_key == second.refund_key
    assert re.fullmatch(r"rfd-[0-9a-f]{32}", first.refund_key)


def test_refund_key_different_units_different_key() -> None:
    ret = returnly_return(line("L1", units=2))

    one = decide_refund(ret, rma(rma_line(quantity=2, received={"available": 1})), policy())
    two = decide_refund(ret, rma(rma_line(quantity=2, received={"available": 2})), policy())

    assert one.refund_key != two.refund_key


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param(
            ("R1", [("L1", 1), ("L2", 2)]), ("R1", [("L2", 2), ("L1", 1)]), True, id="line-order"
        ),
        pytest.param(("R1", [("L1", 1)]), ("R2", [("L1", 1)]), False, id="other-return"),
        pytest.param(("R1", [("L1", 1)]), ("R1", [("L2", 1)]), False, id="other-line"),
        pytest.param(("R1", [("L1", 1)]), ("R1", [("L1", 2)]), False, id="other-units"),
        pytest.param(("R1", [("L1", 1)]), ("R1", [("L1", 1), ("L2", 1)]), False, id="extra-line"),
    ],
)
def test_refund_key_table(
    a: tuple[str, list[tuple[str, int]]], b: tuple[str, list[tuple[str, int]]], same: bool
) -> None:
    key_a = refund_key(a[0], [refund_line(i, n) for i, n in a[1]])
    key_b = refund_key(b[0], [refund_line(i, n) for i, n in b[1]])

    assert (key_a == key_b) is same


def test_refund_key_counts_units_refunded_before() -> None:
    assert refund_key("R1", [refund_line("L1", 1)]) != refund_key("R1", [refund_line("L1", 1, 1)])


def test_refund_key_ignores_amounts() -> None:
    cheap = refund_line("L1", 1)
    dear = cheap.model_copy(update={"amount": Decimal("99.00")})

    assert refund_key("R1", [cheap]) == refund_key("R1", [dear])


def test_to_refund_create_names_rma_and_never_restocks() -> None:
    ret = returnly_return(line("L1", units=2, amount="100.00"), line("L2", "CAP-NAVY-S"))
    receipt = rma(
        rma_line(quantity=2, received={"available": 1, "damaged": 1}),
        rma_line("CAP-NAVY-S", received={"available": 1}),
    )
    decision = decide_refund(
        ret, receipt, policy(inventory_status_policy={"damaged": deduct("0.2")})
    )

    body = decision.to_refund_create(ret)

    assert body.attributes() == {
        "rma": "RMA1001",
        "restock": False,
        "line_items": [
            {"return_line_item_id": "L1", "units": 2},
            {"return_line_item_id": "L2", "units": 1},
        ],
        "deduction_amount": "10.00",
        "note": f"AMS receipt of RMA {receipt.id}; refund key {decision.refund_key}",
    }


def test_to_refund_create_uses_tracking_number_without_rma_number() -> None:
    ret = returnly_return(rma=" ", labels=[label()])
    decision = decide_refund(ret, rma(rma_line(received={"available": 1})), policy())

    body = decision.to_refund_create(ret)

    assert (body.rma, body.tracking_number) == (None, TRACKING)


def test_to_refund_create_refuses_without_identifier() -> None:
    ret = returnly_return(rma="", labels=[])
    decision = decide_refund(ret, rma(rma_line(received={"available": 1})), policy())

    with pytest.raises(ValueError, match="neither an RMA number nor a tracking number"):
        decision.to_refund_create(ret)


def test_to_refund_create_refuses_when_nothing_to_refund() -> None:
    ret = returnly_return()
    decision = decide_refund(ret, rma(rma_line(received={"damaged": 1})), policy())

    with pytest.raises(ValueError, match="no refund"):
        decision.to_refund_create(ret)


def test_to_refund_create_refuses_another_return() -> None:
    ret = returnly_return()
    decision = decide_refund(ret, rma(rma_line(received={"available": 1})), policy())

    with pytest.raises(ValueError, match="not 2002"):
        decision.to_refund_create(returnly_return(id="2002"))
