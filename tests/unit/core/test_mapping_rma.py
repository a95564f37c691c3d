"""map_return_to_rma: the whole Returnly return -> AMS RMA mapping, table by table."""

from __future__ import annotations

from typing import Any

import pytest

from clients.ams.models import rma_problems
from clients.returnly.models import Return
from core.mapping import (
    MappedRma,
    MappingIssueCode,
    MappingRejected,
    MappingResult,
    map_return_to_rma,
)
from core.policy import MerchantPolicy
from tests.unit.core.factories import TRACKING, address, label, line, policy, returnly_return


def mapped(ret: Return, pol: MerchantPolicy | None = None, **kwargs: Any) -> MappedRma:
    result = map_return_to_rma(ret, pol or policy(), **kwargs)
    assert isinstance(result, MappedRma), getattr(result, "issues", None)
    assert rma_problems(result.rma) == []
    return result


def rejected(ret: Return, pol: MerchantPolicy | None = None, **kwargs: Any) -> MappingRejected:
    result = map_return_to_rma(ret, pol or policy(), **kwargs)
    assert isinstance(result, MappingRejected)
    assert result.ok is False
    return result


def test_map_return_with_returnly_label() -> None:
    result = mapped(returnly_return(line(sub_cause="Sleeves too long")))

    assert result.ok is True
    assert result.rma.to_wire() == {
        "customer_identifier": "RLY-1001",
        "manifest_id": "RMA1001",
        "return_type": "rma_submitted_by_customer",
        "generate_return_label": False,
        "package_id": TRACKING,
        "customer_address_name": "Ada Lovelace",
        "customer_address_street_line_one": "12 Analytical Way",
        "customer_address_city": "Portland",
        "customer_address_state": "OR",
        "customer_address_postal_code": "97201",
        "customer_address_country_code": "US",
        "line_items": [
            {
                "customer_sku_id": "TEE-BLACK-M",
                "quantity": 1,
                "return_reason_code": "tooBig",
                "return_inventory_status": "qc",
                "customer_order_id": "#1001",
                "return_notes": "Sleeves too long",
            }
        ],
    }
    assert result.adjustments == []


def test_map_return_without_label_asks_ams_for_one() -> None:
    rma = mapped(returnly_return(labels=[])).rma

    assert rma.generate_return_label is True
    assert rma.package_id is None
    assert rma.customer_address_country_code == "US"
    assert rma.customer_address_street_line_one == "12 Analytical Way"


@pytest.mark.parametrize(
    "labels",
    [
        pytest.param([], id="no-label"),
        pytest.param([label(tracking=None)], id="label-without-tracking-number"),
        pytest.param([label(tracking="  ")], id="label-with-blank-tracking-number"),
    ],
)
def test_map_return_non_us_without_label_is_held(labels: list[Any]) -> None:
    ret = returnly_return(labels=labels, shopper_address=address(country_code="GB"))

    result = rejected(ret)

    assert [i.code for i in result.issues] == [MappingIssueCode.NON_US_WITHOUT_LABEL]
    assert result.issues[0].field == "shopper_address.country_code"


def test_map_return_non_us_with_label_omits_address() -> None:
    ret = returnly_return(shopper_address=address(country_code="GB", state="Kent"))

    result = mapped(ret)

    assert result.rma.generate_return_label is False
    assert result.rma.customer_address_country_code is None
    assert result.rma.customer_address_name is None
    assert [a.field for a in result.adjustments] == ["customer_address_*"]
    assert "non_us_without_label" in result.adjustments[0].message


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        pytest.param({"city": None}, MappingIssueCode.INCOMPLETE_ADDRESS, id="no-city"),
        pytest.param({"state": "Narnia"}, MappingIssueCode.INVALID_ADDRESS, id="bad-state"),
    ],
)
def test_map_return_bad_address_without_label_is_held(
    overrides: dict[str, Any], code: MappingIssueCode
) -> None:
    result = rejected(returnly_return(labels=[], shopper_address=address(**overrides)))

    assert [i.code for i in result.issues] == [code]


def test_map_return_over_long_address_lines_are_fitted_and_noted() -> None:
    ret = returnly_return(
        labels=[],
        shopper_address=address(
            name="Bartholomew Montgomery-Fitzgerald III",
            line1="1234 North Martin Luther King Junior Boulevard",
            line2="Apt 5",
        ),
    )

    result = mapped(ret)

    assert result.rma.customer_address_name == "Bartholomew Montgomery-Fitzger"
    assert result.rma.customer_address_street_line_one == "1234 North Martin Luther King Junior"
    assert result.rma.customer_address_street_line_two == "Boulevard Apt 5"
    assert {a.field for a in result.adjustments} == {
        "customer_address_name",
        "customer_address_street_line_one",
    }


def test_map_return_unicode_name_kept() -> None:
    ret = returnly_return(shopper_address=address(name="Łucja Żółć-Ødegård", city="São Paulo"))

    rma = mapped(ret).rma

    assert rma.customer_address_name == "Łucja Żółć-Ødegård"
    assert rma.customer_address_city == "São Paulo"


def test_map_return_groups_one_line_per_unit() -> None:
    ret = returnly_return(
        line("L1", order_line="OL1"),
        line("L2", order_line="OL1"),
        line("L3", order_line="OL1"),
    )

    result = mapped(ret)

    assert [(li.customer_sku_id, li.quantity) for li in result.rma.line_items] == [
        ("TEE-BLACK-M", 3)
    ]
    assert [a.field for a in result.adjustments] == ["line_items[0].quantity"]


def test_map_return_multi_order_keeps_one_line_per_sku_and_order() -> None:
    ret = returnly_return(
        line("L1", "TEE-BLACK-M", 2, order="#1001"),
        line("L2", "TEE-BLACK-M", 1, order="#1002", order_id="5002"),
        line("L3", "CAP-NAVY-S", 1, order="#1002", order_id="5002"),
        line("L4", "TEE-BLACK-M", 1, order="#1001", order_line="OL9"),
    )

    items = mapped(ret).rma.line_items

    assert [(li.customer_sku_id, li.customer_order_id, li.quantity) for li in items] == [
        ("TEE-BLACK-M", "#1001", 3),
        ("TEE-BLACK-M", "#1002", 1),
        ("CAP-NAVY-S", "#1002", 1),
    ]


def test_map_return_order_id_fallback_and_omission() -> None:
    ret = returnly_return(
        line("L1", "TEE-BLACK-M", order=None, order_id="5001"),
        line("L2", "CAP-NAVY-S", order="#", order_id="7"),
    )

    result = mapped(ret)

    assert [li.customer_order_id for li in result.rma.line_items] == ["5001", None]
    assert [a.field for a in result.adjustments] == ["line_items[1].customer_order_id"]


@pytest.mark.parametrize(
    ("cause", "sub_cause", "code", "notes"),
    [
        pytest.param("too_big", None, "tooBig", None, id="mapped-no-notes"),
        pytest.param("Too Small", "Waist", "tooSmall", "Waist", id="mapped-sub-cause-as-notes"),
        pytest.param("defective", "Seam open", "damaged", "Seam open", id="synonym"),
        pytest.param("changed_mind", None, "other", "changed_mind", id="unmapped-cause-as-notes"),
        pytest.param(
            "changed_mind",
            "found cheaper",
            "other",
            "changed_mind: found cheaper",
            id="unmapped+sub",
        ),
        pytest.param(None, None, "other", None, id="no-cause"),
        pytest.param(None, "just because", "other", "just because", id="no-cause-with-sub"),
        pytest.param("too_big", "x", "tooBig", None, id="one-char-note-left-out"),
        pytest.param(
            "too_big",
            "The fabric was much thicker than the photos suggested online",
            "tooBig",
            "The fabric was much thicker than the photos sugge…",
            id="long-note-cut-to-50",
        ),
        pytest.param(
            "too_big", "Ärmel zu lang 🙁", "tooBig", "Ärmel zu lang 🙁", id="unicode-note"
        ),
    ],
)
def test_map_return_reason_codes_and_notes(
    cause: str | None, sub_cause: str | None, code: str, notes: str | None
) -> None:
    item = mapped(returnly_return(line(cause=cause, sub_cause=sub_cause))).rma.line_items[0]

    assert (item.return_reason_code, item.return_notes) == (code, notes)
    assert item.return_notes is None or 2 <= len(item.return_notes) <= 50


def test_map_return_reason_code_from_merchant_map() -> None:
    pol = policy(reason_code_map={"Fit issue": "tooSmall"})

    item = mapped(returnly_return(line(cause="fit_issue")), pol).rma.line_items[0]

    assert item.return_reason_code == "tooSmall"


def test_map_return_mixed_causes_take_majority_code() -> None:
    ret = returnly_return(
        line("L1", cause="damaged", sub_cause="Hole"),
        line("L2", cause="too_big"),
        line("L3", cause="too_big", sub_cause="Long"),
    )

    result = mapped(ret)

    item = result.rma.line_items[0]
    assert (item.quantity, item.return_reason_code, item.return_notes) == (
        3,
        "tooBig",
        "Hole; Long",
    )
    assert "line_items[0].return_reason_code" in [a.field for a in result.adjustments]


def test_map_return_requested_inventory_status_from_policy() -> None:
    pol = policy(return_inventory_status="quality-control")

    item = mapped(returnly_return(), pol).rma.line_items[0]

    assert item.return_inventory_status == "quality-control"


@pytest.mark.parametrize(
    ("lines", "code", "field"),
    [
        pytest.param(
            [line(sku=None)], MappingIssueCode.MISSING_SKU, "line_items[0].sku", id="none"
        ),
        pytest.param(
            [line("L1"), line("L2", sku="  ")],
            MappingIssueCode.MISSING_SKU,
            "line_items[1].sku",
            id="blank-sku-holds-whole-return",
        ),
        pytest.param(
            [line(sku="X")], MappingIssueCode.INVALID_SKU, "line_items[0].sku", id="short"
        ),
        pytest.param(
            [line(sku="S" * 101)], MappingIssueCode.INVALID_SKU, "line_items[0].sku", id="long"
        ),
        pytest.param(
            [line(units=0)], MappingIssueCode.INVALID_UNITS, "line_items[0].units", id="zero-units"
        ),
    ],
)
def test_map_return_bad_lines_hold_whole_return(
    lines: list[Any], code: MappingIssueCode, field: str
) -> None:
    result = rejected(returnly_return(*lines))

    assert [(i.code, i.field) for i in result.issues] == [(code, field)]


def test_map_return_no_line_items_is_held() -> None:
    ret = returnly_return().model_copy(update={"line_items": []})

    assert [i.code for i in rejected(ret).issues] == [MappingIssueCode.NO_LINE_ITEMS]


@pytest.mark.parametrize(
    ("known", "ok"),
    [
        pytest.param(None, True, id="no-catalog-no-check"),
        pytest.param({"TEE-BLACK-M"}, True, id="known"),
        pytest.param({"TEE-WHITE-M"}, False, id="unknown"),
    ],
)
def test_map_return_known_skus(known: set[str] | None, ok: bool) -> None:
    result = map_return_to_rma(returnly_return(), policy(), known_skus=known)

    assert result.ok is ok
    if isinstance(result, MappingRejected):
        assert [i.code for i in result.issues] == [MappingIssueCode.UNKNOWN_SKU]
        assert "TEE-BLACK-M" in result.issues[0].message


def test_map_return_collects_every_issue_at_once() -> None:
    ret = returnly_return(
        line("L1", sku=None),
        line("L2", units=0),
        labels=[],
        shopper_address=address(country_code="MX"),
    )

    codes = {i.code for i in rejected(ret).issues}

    assert codes == {
        MappingIssueCode.MISSING_SKU,
        MappingIssueCode.INVALID_UNITS,
        MappingIssueCode.NON_US_WITHOUT_LABEL,
    }


@pytest.mark.parametrize(
    ("flags", "pol", "instructions"),
    [
        pytest.param({"is_exchange": True}, {}, "Returnly exchange", id="exchange-gets-rma"),
        pytest.param({"is_gift": True}, {}, "Returnly gift return", id="gift-gets-rma"),
        pytest.param(
            {"is_exchange": True, "is_gift": True},
            {},
            "Returnly exchange; Returnly gift return",
            id="exchange-and-gift",
        ),
        pytest.param(
            {"is_gift": True},
            {"exchange_intake": "hold"},
            "Returnly gift return",
            id="gift-not-held-by-exchange-hold",
        ),
    ],
)
def test_map_return_exchange_and_gift_noted(
    flags: dict[str, Any], pol: dict[str, Any], instructions: str
) -> None:
    rma = mapped(returnly_return(**flags), policy(**pol)).rma

    assert rma.customer_instructions == instructions


def test_map_return_line_typed_exchange_counts_as_exchange() -> None:
    rma = mapped(returnly_return(line(return_type="Exchange"))).rma

    assert rma.customer_instructions == "Returnly exchange"


@pytest.mark.parametrize(
    ("flags", "pol", "code"),
    [
        pytest.param(
            {"is_exchange": True},
            {"exchange_intake": "hold"},
            MappingIssueCode.EXCHANGE_HELD,
            id="exchange-held",
        ),
        pytest.param(
            {"is_gift": True}, {"gift_intake": "hold"}, MappingIssueCode.GIFT_HELD, id="gift-held"
        ),
    ],
)
def test_map_return_exchange_and_gift_held_by_policy(
    flags: dict[str, Any], pol: dict[str, Any], code: MappingIssueCode
) -> None:
    assert [i.code for i in rejected(returnly_return(**flags), policy(**pol)).issues] == [code]


def test_map_return_several_labels_first_is_package_others_noted() -> None:
    ret = returnly_return(
        labels=[label("1Z999AA10123456784", "SL1"), label("1Z999AA10123456785", "SL2")]
    )

    rma = mapped(ret).rma

    assert rma.package_id == "1Z999AA10123456784"
    assert rma.customer_instructions == "Also shipped under tracking 1Z999AA10123456785"


@pytest.mark.parametrize(
    "tracking",
    [pytest.param("1234", id="too-short"), pytest.param("T" * 101, id="too-long")],
)
def test_map_return_unusable_tracking_number_is_held(tracking: str) -> None:
    result = rejected(returnly_return(labels=[label(tracking)]))

    assert [i.code for i in result.issues] == [MappingIssueCode.INVALID_TRACKING_NUMBER]


def test_map_return_long_rma_number_keeps_tail_and_full_number_in_instructions() -> None:
    ret = returnly_return(rma="SHOP-EU-2024-0000012345")

    result = mapped(ret)

    assert result.rma.manifest_id == "P-EU-2024-0000012345"
    assert result.rma.customer_instructions == "Returnly RMA SHOP-EU-2024-0000012345"
    assert "manifest_id" in [a.field for a in result.adjustments]


def test_map_return_instructions_cut_to_250() -> None:
    labels = [label(f"1Z{i:020d}", f"SL{i}") for i in range(15)]

    result = mapped(returnly_return(labels=labels, is_exchange=True))

    assert result.rma.customer_instructions is not None
    assert len(result.rma.customer_instructions) == 250
    assert result.rma.customer_instructions.endswith("…")
    assert "customer_instructions" in [a.field for a in result.adjustments]


def test_map_return_is_deterministic() -> None:
    ret = returnly_return(
        line("L1", cause="damaged"), line("L2", "CAP-NAVY-S", cause="odd"), is_gift=True
    )

    first: MappingResult = map_return_to_rma(ret, policy())
    second: MappingResult = map_return_to_rma(ret.model_copy(deep=True), policy())

    assert first == second
