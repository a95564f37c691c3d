"""decide_refund: receipt -> refund per Returnly line, under the merchant policy."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from core.refunds import HeldReason, RefundDecision, RefundIssueCode, decide_refund
from tests.unit.core.factories import deduct, line, policy, refund, returnly_return, rma, rma_line


def units(decision: RefundDecision) -> dict[str, int]:
    return {li.return_line_item_id: li.units for li in decision.lines}


def held(decision: RefundDecision) -> list[tuple[str, int, str | None, HeldReason]]:
    return [(h.return_line_item_id, h.units, h.inventory_status, h.reason) for h in decision.held]


def opened(decision: RefundDecision) -> dict[str, int]:
    return {o.return_line_item_id: o.units for o in decision.open_units}


def issue_codes(decision: RefundDecision) -> list[RefundIssueCode]:
    return [i.code for i in decision.issues]


# --- the spec example: target qc, received as damaged (§B.7) ----------------------------------


def test_decide_refund_spec_example_damaged_held_by_default() -> None:
    ret = returnly_return(line("L1", "pants3456", order="54321"))
    received = rma(rma_line("pants3456", order="54321", received={"damaged": 1}, target="qc"))

    decision = decide_refund(ret, received, policy())

    assert decision.outcome == "no_refund"
    assert decision.refundable is False
    assert decision.refund_key is None
    assert held(decision) == [("L1", 1, "damaged", HeldReason.POLICY_REVIEW)]
    assert decision.no_refund_reason == "1 received unit(s) held for review"


def test_decide_refund_spec_example_damaged_with_deduction_policy() -> None:
    ret = returnly_return(line("L1", "pants3456", order="54321", amount="80.00"))
    received = rma(rma_line("pants3456", order="54321", received={"damaged": 1}, target="qc"))
    pol = policy(inventory_status_policy={"damaged": deduct("0.5")})

    decision = decide_refund(ret, received, pol)

    assert units(decision) == {"L1": 1}
    assert decision.deduction_amount == Decimal("40.00")
    assert decision.expected_refund_amount == Decimal("40.00")
    assert decision.held == []


def test_decide_refund_uses_receiving_details_not_requested_status() -> None:
    ret = returnly_return(line("L1"))
    received = rma(rma_line(received={"available": 1}, target="damaged"))

    assert units(decide_refund(ret, received, policy())) == {"L1": 1}


# --- full, partial, over-receipt -----------------------------------------------------------


@pytest.mark.parametrize(
    ("returned", "received", "pol", "refunded", "open_", "issues"),
    [
        pytest.param(2, {"available": 2}, {}, {"L1": 2}, {}, [], id="full-receipt"),
        pytest.param(3, {"available": 2}, {}, {"L1": 2}, {"L1": 1}, [], id="partial-receipt"),
        pytest.param(
            3,
            {"available": 2},
            {"refund_partial_receipts": False},
            {},
            {"L1": 1},
            [],
            id="partial-receipt-held-by-policy",
        ),
        pytest.param(
            1,
            {"available": 3},
            {},
            {"L1": 1},
            {},
            [RefundIssueCode.OVER_RECEIPT],
            id="over-receipt",
        ),
        pytest.param(2, {}, {}, {}, {"L1": 2}, [], id="nothing-received"),
    ],
)
def test_decide_refund_receipt_quantities(
    returned: int,
    received: dict[str, int],
    pol: dict[str, Any],
    refunded: dict[str, int],
    open_: dict[str, int],
    issues: list[RefundIssueCode],
) -> None:
    ret = returnly_return(line("L1", units=returned, amount="56.00"))
    receipt = rma(rma_line(quantity=returned, received=received, quantity_received=0))

    decision = decide_refund(ret, receipt, policy(**pol))

    assert units(decision) == refunded
    assert opened(decision) == open_
    assert issue_codes(decision) == issues


def test_decide_refund_partial_held_by_policy_says_why() -> None:
    ret = returnly_return(line("L1", units=3))
    receipt = rma(rma_line(quantity=3, received={"available": 2}))

    decision = decide_refund(ret, receipt, policy(refund_partial_receipts=False))

    assert held(decision) == [("L1", 2, None, HeldReason.PARTIAL_RECEIPT)]
    assert decision.no_refund_reason == "2 received unit(s) held for review"


def test_decide_refund_over_receipt_capped_and_reported() -> None:
    ret = returnly_return(line("L1", units=1, amount="28.00"))
    receipt = rma(rma_line(received={"available": 2, "damaged": 1}))

    decision = decide_refund(ret, receipt, policy())

    assert units(decision) == {"L1": 1}
    assert decision.expected_refund_amount == Decimal("28.00")
    assert decision.held == []
    [issue] = decision.issues
    assert (issue.code, issue.sku, issue.units) == (RefundIssueCode.OVER_RECEIPT, "TEE-BLACK-M", 2)
    assert "1 available, 1 damaged" in issue.message


def test_decide_refund_nothing_received_says_so() -> None:
    decision = decide_refund(returnly_return(), rma(rma_line()), policy())

    assert decision.outcome == "no_refund"
    assert decision.no_refund_reason == "nothing received for any line of the return"


# --- inventory statuses --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "pol", "refunded", "held_", "deduction"),
    [
        pytest.param({"available": 1}, {}, 1, [], "0.00", id="available-refund"),
        pytest.param(
            {"damaged": 1},
            {},
            0,
            [(1, "damaged", HeldReason.POLICY_REVIEW)],
            "0.00",
            id="damaged-review-default",
        ),
        pytest.param(
            {"damaged": 1},
            {"inventory_status_policy": {"damaged": deduct("0.25")}},
            1,
            [],
            "25.00",
            id="damaged-deduction-25pct",
        ),
        pytest.param(
            {"damaged": 1},
            {"inventory_status_policy": {"damaged": {"action": "refund"}}},
            1,
            [],
            "0.00",
            id="damaged-refund-by-policy",
        ),
        pytest.param(
            {"quarantine": 1},
            {},
            0,
            [(1, "quarantine", HeldReason.POLICY_REVIEW)],
            "0.00",
            id="quarantine-review",
        ),
        pytest.param(
            {"mystery": 1},
            {},
            0,
            [(1, "mystery", HeldReason.UNKNOWN_INVENTORY_STATUS)],
            "0.00",
            id="unknown-status-review",
        ),
        pytest.param(
            {"Quality_Control": 1},
            {},
            0,
            [(1, "Quality_Control", HeldReason.POLICY_REVIEW)],
            "0.00",
            id="drifted-spelling-known",
        ),
    ],
)
def test_decide_refund_inventory_status_policy(
    received: dict[str, int],
    pol: dict[str, Any],
    refunded: int,
    held_: list[tuple[int, str, HeldReason]],
    deduction: str,
) -> None:
    ret = returnly_return(line("L1", amount="100.00"))

    decision = decide_refund(ret, rma(rma_line(received=received)), policy(**pol))

    assert units(decision) == ({"L1": refunded} if refunded else {})
    assert [(u, s, r) for _, u, s, r in held(decision)] == held_
    assert decision.deduction_amount == Decimal(deduction)


def test_decide_refund_mixed_statuses_on_one_line() -> None:
    ret = returnly_return(line("L1", units=4, amount="100.00"))
    receipt = rma(rma_line(quantity=4, received={"available": 2, "damaged": 1, "quarantine": 1}))
    pol = policy(inventory_status_policy={"damaged": deduct("0.5")})

    decision = decide_refund(ret, receipt, pol)

    assert units(decision) == {"L1": 3}
    assert decision.lines[0].amount == Decimal("75.00")
    assert decision.deduction_amount == Decimal("12.50")
    assert decision.expected_refund_amount == Decimal("62.50")
    assert held(decision) == [("L1", 1, "quarantine", HeldReason.POLICY_REVIEW)]


def test_decide_refund_receipt_without_details_goes_to_review() -> None:
    receipt = rma(rma_line(received=None, quantity_received=1))

    decision = decide_refund(returnly_return(), receipt, policy())

    assert held(decision) == [("L1", 1, "unspecified", HeldReason.UNKNOWN_INVENTORY_STATUS)]
    assert any("without receiving details" in n for n in decision.notes)


def test_decide_refund_quantity_received_disagreeing_with_details_is_noted() -> None:
    receipt = rma(rma_line(received={"available": 1}, quantity_received=2))

    decision = decide_refund(returnly_return(), receipt, policy())

    assert units(decision) == {"L1": 1}
    assert any("the details are used" in n for n in decision.notes)


# --- mapping receipt lines back to Returnly lines --------------------------------------------


def test_decide_refund_one_line_per_unit_allocated_in_order() -> None:
    ret = returnly_return(line("L1"), line("L2"), line("L3"))
    receipt = rma(rma_line(quantity=3, received={"damaged": 1, "available": 2}))

    decision = decide_refund(ret, receipt, policy())

    assert units(decision) == {"L1": 1, "L2": 1}
    assert held(decision) == [("L3", 1, "damaged", HeldReason.POLICY_REVIEW)]
    assert opened(decision) == {}


def test_decide_refund_sku_spanning_lines_partial_fills_first_line_first() -> None:
    ret = returnly_return(line("L1", units=2), line("L2", units=1))
    receipt = rma(rma_line(quantity=3, received={"available": 2}))

    decision = decide_refund(ret, receipt, policy())

    assert units(decision) == {"L1": 2}
    assert opened(decision) == {"L2": 1}


def test_decide_refund_multi_order_matches_by_sku_and_order() -> None:
    ret = returnly_return(
        line("L1", "TEE-BLACK-M", order="#1001"),
        line("L2", "TEE-BLACK-M", order="#1002"),
        line("L3", "CAP-NAVY-S", order="#1002"),
    )
    receipt = rma(
        rma_line("TEE-BLACK-M", order="#1002", received={"available": 1}),
        rma_line("TEE-BLACK-M", order="#1001", received={"damaged": 1}),
        rma_line("CAP-NAVY-S", order="#1002", received={"available": 1}),
    )

    decision = decide_refund(ret, receipt, policy())

    assert units(decision) == {"L2": 1, "L3": 1}
    assert held(decision) == [("L1", 1, "damaged", HeldReason.POLICY_REVIEW)]


@pytest.mark.parametrize(
    "order",
    [pytest.param(None, id="no-order-on-ams-line"), pytest.param("#9999", id="other-order")],
)
def test_decide_refund_falls_back_to_sku_match(order: str | None) -> None:
    ret = returnly_return(line("L1", order="#1001"))

    decision = decide_refund(ret, rma(rma_line(order=order, received={"available": 1})), policy())

    assert units(decision) == {"L1": 1}
    assert decision.issues == []


def test_decide_refund_not_on_original_rma_is_an_issue_not_a_refund() -> None:
    ret = returnly_return(line("L1", "pants3456", order="54321"))
    receipt = rma(
        rma_line("pants3456", order="54321", received={"available": 1}),
        rma_line(
            "shirts435234",
            order="54321",
            received={"available": 1},
            quantity_received=0,
            not_on_original_rma=True,
        ),
    )

    decision = decide_refund(ret, receipt, policy())

    assert units(decision) == {"L1": 1}
    [issue] = decision.issues
    assert (issue.code, issue.sku, issue.units) == (
        RefundIssueCode.NOT_ON_ORIGINAL_RMA,
        "shirts435234",
        1,
    )


def test_decide_refund_not_on_original_rma_even_for_a_returned_sku() -> None:
    ret = returnly_return(line("L1"))
    receipt = rma(rma_line(received={"available": 1}, not_on_original_rma=True))

    decision = decide_refund(ret, receipt, policy())

    assert decision.lines == []
    assert issue_codes(decision) == [RefundIssueCode.NOT_ON_ORIGINAL_RMA]


def test_decide_refund_unmatched_rma_line_is_an_issue() -> None:
    receipt = rma(
        rma_line("TEE-BLACK-M", received={"available": 1}),
        rma_line("JEAN-RUST-L", received={"available": 1}),
    )

    decision = decide_refund(returnly_return(), receipt, policy())

    assert units(decision) == {"L1": 1}
    assert issue_codes(decision) == [RefundIssueCode.UNMATCHED_RMA_LINE]


# --- guards: nothing refunded at all ----------------------------------------------------------


@pytest.mark.parametrize(
    ("ret_kw", "rma_kw", "reason", "issues"),
    [
        pytest.param({}, {"status": "inTransit"}, "not received yet", [], id="rma-not-received"),
        pytest.param({}, {"status": None}, "not received yet", [], id="rma-without-status"),
        pytest.param(
            {},
            {"customer_identifier": "RLY-2002"},
            "another return",
            [RefundIssueCode.RMA_MISMATCH],
            id="rma-of-another-return",
        ),
        pytest.param(
            {"status": "canceled_by_merchant"},
            {},
            "canceled",
            [RefundIssueCode.RETURN_CANCELED],
            id="return-canceled",
        ),
        pytest.param(
            {"status": "on_hold_by_fraud_team"},
            {},
            "unknown return status",
            [RefundIssueCode.UNKNOWN_RETURN_STATUS],
            id="unknown-return-status",
        ),
        pytest.param(
            {"status": "refunded", "refunds": [refund()]},
            {},
            "already shows a refund",
            [],
            id="already-refunded-without-line-detail",
        ),
    ],
)
def test_decide_refund_guards(
    ret_kw: dict[str, Any], rma_kw: dict[str, Any], reason: str, issues: list[RefundIssueCode]
) -> None:
    ret = returnly_return(**ret_kw)
    receipt = rma(rma_line(received={"available": 1}), **rma_kw)

    decision = decide_refund(ret, receipt, policy())

    assert decision.outcome == "no_refund"
    assert decision.refund_key is None
    assert decision.no_refund_reason is not None and reason in decision.no_refund_reason
    assert issue_codes(decision) == issues


def test_decide_refund_already_refunded_units_are_not_refunded_again() -> None:
    ret = returnly_return(line("L1", units=2), refunds=[refund(("L1", 2))], status="refunded")

    decision = decide_refund(ret, rma(rma_line(quantity=2, received={"available": 2})), policy())

    assert decision.lines == []
    assert decision.no_refund_reason == "every received unit is already refunded"


def test_decide_refund_rest_of_partial_receipt_refunded_with_a_new_key() -> None:
    ret = returnly_return(line("L1", units=2))
    first = decide_refund(ret, rma(rma_line(quantity=2, received={"available": 1})), policy())
    refunded = ret.model_copy(update={"refunds": [refund(("L1", 1))]})

    second = decide_refund(refunded, rma(rma_line(quantity=2, received={"available": 2})), policy())

    assert units(first) == units(second) == {"L1": 1}
    assert second.lines[0].previously_refunded == 1
    assert first.refund_key != second.refund_key


# --- exchanges and gifts -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "pol", "reason"),
    [
        pytest.param({"is_exchange": True}, {}, None, id="exchange-refunded-by-default"),
        pytest.param({"is_gift": True}, {}, None, id="gift-refunded-by-default"),
        pytest.param(
            {"is_exchange": True},
            {"exchange_completion": "review"},
            HeldReason.EXCHANGE_REVIEW,
            id="exchange-review",
        ),
        pytest.param(
            {"is_gift": True},
            {"gift_completion": "review"},
            HeldReason.GIFT_REVIEW,
            id="gift-review",
        ),
    ],
)
def test_decide_refund_exchange_and_gift(
    flags: dict[str, Any], pol: dict[str, Any], reason: HeldReason | None
) -> None:
    ret = returnly_return(**flags)

    decision = decide_refund(ret, rma(rma_line(received={"available": 1})), policy(**pol))

    if reason is None:
        assert units(decision) == {"L1": 1}
    else:
        assert decision.lines == []
        assert held(decision) == [("L1", 1, None, reason)]


# --- amounts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line_kw", "returned", "received", "amount"),
    [
        pytest.param({"amount": "90.00"}, 3, 2, "60.00", id="share-of-line"),
        pytest.param({"amount": "100.00"}, 3, 1, "33.33", id="rounded-half-up"),
        pytest.param(
            {"amount": None, "total_refund_amount": Decimal("40.00")},
            1,
            1,
            "40.00",
            id="total-refund-amount-fallback",
        ),
        pytest.param(
            {
                "amount": None,
                "original_amount": Decimal("50.00"),
                "discount_amount": Decimal("5.00"),
            },
            1,
            1,
            "45.00",
            id="price-minus-discount-fallback",
        ),
        pytest.param({"amount": None}, 1, 1, "0.00", id="no-amount"),
    ],
)
def test_decide_refund_amounts(
    line_kw: dict[str, Any], returned: int, received: int, amount: str
) -> None:
    ret = returnly_return(line("L1", units=returned, **line_kw))
    receipt = rma(rma_line(quantity=returned, received={"available": received}))

    decision = decide_refund(ret, receipt, policy())

    assert decision.expected_refund_amount == Decimal(amount)


def test_decide_refund_deduction_without_amount_is_held() -> None:
    ret = returnly_return(line("L1", amount=None))
    pol = policy(inventory_status_policy={"damaged": deduct("0.5")})

    decision = decide_refund(ret, rma(rma_line(received={"damaged": 1})), pol)

    assert decision.lines == []
    assert held(decision) == [("L1", 1, "damaged", HeldReason.POLICY_REVIEW)]
    assert "no amount" in decision.held[0].message
