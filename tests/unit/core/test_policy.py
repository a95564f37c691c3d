"""MerchantPolicy: reason-code lookup, inventory-status rules, and what it refuses."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from core.policy import (
    AMS_REASON_CODES,
    DEFAULT_REASON_CODE_MAP,
    InventoryStatusRule,
    MerchantPolicy,
)


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        pytest.param("too_big", "tooBig", id="snake-case"),
        pytest.param("Too Big", "tooBig", id="spaced-title-case"),
        pytest.param("TOO-SMALL", "tooSmall", id="hyphen-upper"),
        pytest.param("defective", "damaged", id="synonym-defective"),
        pytest.param("wrong item sent", "wrongItem", id="wrong-item-sent"),
        pytest.param("tooBig", "tooBig", id="ams-code-itself"),
        pytest.param("other", "other", id="other"),
        pytest.param("changed_my_mind", None, id="unmapped"),
        pytest.param("", None, id="empty"),
        pytest.param("   ", None, id="blank"),
        pytest.param(None, None, id="none"),
    ],
)
def test_reason_code_for_default_map(cause: str | None, expected: str | None) -> None:
    assert MerchantPolicy().reason_code_for(cause) == expected


def test_reason_code_map_merchant_entries_extend_and_override_defaults() -> None:
    policy = MerchantPolicy(reason_code_map={"Fit Issue": "tooSmall", "defective": "other"})

    assert policy.reason_code_for("fit_issue") == "tooSmall"
    assert policy.reason_code_for("defective") == "other"
    assert policy.reason_code_for("too_big") == "tooBig"


def test_default_map_only_uses_spec_codes() -> None:
    assert set(DEFAULT_REASON_CODE_MAP.values()) <= set(AMS_REASON_CODES)
    assert set(AMS_REASON_CODES) == {"tooBig", "tooSmall", "damaged", "wrongItem", "other"}


def test_reason_code_map_rejects_non_spec_code() -> None:
    with pytest.raises(ValidationError):
        MerchantPolicy(reason_code_map={"late": "arrivedLate"})


@pytest.mark.parametrize(
    ("status", "action"),
    [
        pytest.param("available", "refund", id="available-refund"),
        pytest.param("Available", "refund", id="case-insensitive"),
        pytest.param("damaged", "review", id="damaged-review"),
        pytest.param("qc", "review", id="qc-review"),
        pytest.param("Quality_Control", "review", id="quality-control-spelling"),
        pytest.param("quarantine", "review", id="quarantine-review"),
        pytest.param("short", "review", id="short-review"),
        pytest.param("mystery-status", "review", id="unknown-review"),
        pytest.param("", "review", id="empty-review"),
    ],
)
def test_rule_for_default_statuses(status: str, action: str) -> None:
    assert MerchantPolicy().rule_for(status).action == action


def test_inventory_status_policy_override_keeps_available_refunded() -> None:
    rule = {"action": "refund_with_deduction", "deduction_fraction": "0.5"}
    policy = MerchantPolicy(inventory_status_policy={"Damaged": rule})

    assert policy.rule_for("damaged") == InventoryStatusRule(
        action="refund_with_deduction", deduction_fraction=Decimal("0.5")
    )
    assert policy.rule_for("available").action == "refund"


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param({"action": "refund_with_deduction"}, id="deduction-without-fraction"),
        pytest.param({"action": "refund", "deduction_fraction": "0.2"}, id="fraction-on-refund"),
        pytest.param({"action": "review", "deduction_fraction": "0.2"}, id="fraction-on-review"),
        pytest.param(
            {"action": "refund_with_deduction", "deduction_fraction": "1.5"}, id="fraction-over-1"
        ),
        pytest.param(
            {"action": "refund_with_deduction", "deduction_fraction": "-0.1"}, id="negative"
        ),
        pytest.param({"action": "restock"}, id="unknown-action"),
    ],
)
def test_inventory_status_rule_rejects(rule: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        InventoryStatusRule.model_validate(rule)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        pytest.param("qc", True, id="qc"),
        pytest.param("quality-control", True, id="quality-control"),
        pytest.param("available", True, id="available"),
        pytest.param("restock-me", False, id="not-an-ams-status"),
        pytest.param("", False, id="empty"),
    ],
)
def test_return_inventory_status_must_be_ams_status(value: str, ok: bool) -> None:
    if ok:
        assert MerchantPolicy(return_inventory_status=value).return_inventory_status == value
    else:
        with pytest.raises(ValidationError):
            MerchantPolicy(return_inventory_status=value)


def test_policy_defaults() -> None:
    policy = MerchantPolicy()

    assert policy.return_inventory_status == "qc"
    assert policy.customer_order_id_source == "ext_order_number"
    assert (policy.exchange_intake, policy.gift_intake) == ("create_rma", "create_rma")
    assert (policy.exchange_completion, policy.gift_completion) == ("refund", "refund")
    assert policy.refund_partial_receipts is True


def test_policy_round_trips_and_refuses_unknown_fields() -> None:
    policy = MerchantPolicy(inventory_status_policy={"damaged": {"action": "review"}})

    assert MerchantPolicy.model_validate(policy.model_dump()) == policy
    with pytest.raises(ValidationError):
        MerchantPolicy.model_validate({"refund_everything": True})
