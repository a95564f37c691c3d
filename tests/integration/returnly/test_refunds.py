"""Refunds: happy path, Idempotency-Key replay, one refund per return, restock always false."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pydantic
import pytest

from clients.returnly import (
    RefundCreate,
    ReturnlyClient,
    ReturnlyConflictError,
    ReturnlyValidationError,
    default_refund_body,
)
from core.settings import SANDBOX_RETURNLY_TOKEN

pytestmark = pytest.mark.integration

TWO_LINES = [
    {"sku": "TEE-BLACK-M", "units": 2, "unit_price": "28.00", "unit_tax": "2.24"},
    {"sku": "SOCK-NAVY-S", "units": 1, "unit_price": "16.00"},
]


def _refund_all(made: dict[str, Any], **kw: Any) -> RefundCreate:
    units = [2, 1]
    return RefundCreate(
        rma=made["rma"],
        line_items=[
            {"return_line_item_id": lid, "units": u}
            for lid, u in zip(made["line_item_ids"], units, strict=True)
        ],
        **kw,
    )


def _refunds(admin: httpx.Client, return_id: str) -> dict[str, Any]:
    body: dict[str, Any] = admin.get(f"/_admin/returns/{return_id}/refunds").json()
    return body


def test_create_refund_refunds_the_return(
    client: ReturnlyClient,
    admin: httpx.Client,
    plant: Callable[..., dict[str, Any]],
    sent: list[httpx.Request],
) -> None:
    made = plant(lines=TWO_LINES, labels=[{}])

    refund = client.create_refund(
        _refund_all(made, deduction_amount=Decimal("5.00"), note="scuffed"),
        idempotency_key="rf-1",
    )

    assert refund.refund_amount == Decimal("71.48")  # 2 * 30.24 + 16.00 - 5.00
    assert refund.return_id == made["id"]
    assert refund.restock is False
    assert {(li.return_line_item_id, li.units) for li in refund.line_items} == {
        (made["line_item_ids"][0], 2),
        (made["line_item_ids"][1], 1),
    }
    ret = client.get_return(made["id"])
    assert ret.status == "refunded" and ret.is_refunded
    assert ret.refund_amount == Decimal("71.48")
    assert ret.refunded_at is not None
    assert [r.id for r in ret.refunds] == [refund.id]
    assert _refunds(admin, made["id"])["count"] == 1
    wire = json.loads(sent[0].content)
    assert wire["data"]["type"] == "refunds"
    assert wire["data"]["attributes"]["restock"] is False
    assert wire["data"]["attributes"]["deduction_amount"] == "5.00"
    assert sent[0].headers["Idempotency-Key"] == "rf-1"


def test_create_refund_partial_units_by_tracking_number(
    client: ReturnlyClient, plant: Callable[..., dict[str, Any]]
) -> None:
    made = plant(lines=TWO_LINES, labels=[{}, {}])

    refund = client.create_refund(
        RefundCreate(
            tracking_number=made["tracking_numbers"][1],
            line_items=[{"return_line_item_id": made["line_item_ids"][0], "units": 1}],
        ),
        idempotency_key="rf-partial",
    )

    assert refund.refund_amount == Decimal("30.24")


def test_create_refund_replay_with_same_key_returns_same_refund(
    client: ReturnlyClient, admin: httpx.Client, plant: Callable[..., dict[str, Any]]
) -> None:
    made = plant(lines=TWO_LINES)
    first = client.create_refund(_refund_all(made), idempotency_key="rf-same")

    again = client.create_refund(_refund_all(made), idempotency_key="rf-same")

    assert again.id == first.id and again.refund_amount == first.refund_amount
    assert _refunds(admin, made["id"])["count"] == 1


def test_create_refund_same_key_different_body_is_refused(
    client: ReturnlyClient, plant: Callable[..., dict[str, Any]]
) -> None:
    made = plant(lines=TWO_LINES)
    client.create_refund(_refund_all(made), idempotency_key="rf-k")

    with pytest.raises(ReturnlyValidationError, match="Idempotency-Key"):
        client.create_refund(_refund_all(made, note="different"), idempotency_key="rf-k")


def test_create_refund_second_refund_conflicts(
    client: ReturnlyClient,
    admin: httpx.Client,
    plant: Callable[..., dict[str, Any]],
    sleeps: list[float],
) -> None:
    made = plant(lines=TWO_LINES)
    client.create_refund(_refund_all(made), idempotency_key="rf-a")

    with pytest.raises(ReturnlyConflictError) as info:
        client.create_refund(_refund_all(made), idempotency_key="rf-b")

    assert info.value.status_code == 409
    assert sleeps == []
    assert _refunds(admin, made["id"])["count"] == 1


def test_create_refund_of_planted_refunded_return_conflicts(
    client: ReturnlyClient, plant: Callable[..., dict[str, Any]]
) -> None:
    made = plant(lines=TWO_LINES, status="delivered", refunds=[{}])

    with pytest.raises(ReturnlyConflictError):
        client.create_refund(_refund_all(made), idempotency_key="rf-late")


def test_create_refund_too_many_units_is_not_retried(
    client: ReturnlyClient,
    plant: Callable[..., dict[str, Any]],
    sent: list[httpx.Request],
    sleeps: list[float],
) -> None:
    made = plant(lines=TWO_LINES)
    too_many = RefundCreate(
        rma=made["rma"],
        line_items=[{"return_line_item_id": made["line_item_ids"][1], "units": 2}],
    )

    with pytest.raises(ReturnlyValidationError) as info:
        client.create_refund(too_many, idempotency_key="rf-units")

    assert "units" in str(info.value)
    assert len(sent) == 1 and sleeps == []


def test_create_refund_unknown_line_is_refused(
    client: ReturnlyClient, plant: Callable[..., dict[str, Any]]
) -> None:
    made = plant(lines=TWO_LINES)
    other = plant()

    with pytest.raises(ReturnlyValidationError, match="not on return"):
        client.create_refund(
            RefundCreate(
                rma=made["rma"],
                line_items=[{"return_line_item_id": other["line_item_ids"][0], "units": 1}],
            ),
            idempotency_key="rf-other",
        )


def test_refund_create_cannot_restock() -> None:
    with pytest.raises(pydantic.ValidationError):
        RefundCreate(rma="R1", restock=True, line_items=[{"return_line_item_id": "1", "units": 1}])


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({}, id="no-identifier"),
        pytest.param({"rma": "R1", "tracking_number": "9400"}, id="both-identifiers"),
    ],
)
def test_refund_create_needs_exactly_one_identifier(fields: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        RefundCreate(line_items=[{"return_line_item_id": "1", "units": 1}], **fields)


def test_sandbox_refuses_restock_true(
    returnly_server: Any, plant: Callable[..., dict[str, Any]], admin: httpx.Client
) -> None:
    made = plant(lines=TWO_LINES)
    body = default_refund_body(_refund_all(made))
    body["data"]["attributes"]["restock"] = True

    response = httpx.post(
        f"{returnly_server.url}/refunds.json",
        json=body,
        headers={"X-Api-Token": SANDBOX_RETURNLY_TOKEN},
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["source"]["pointer"] == "/data/attributes/restock"
    assert _refunds(admin, made["id"])["count"] == 0


def test_create_refund_empty_idempotency_key_is_refused(
    client: ReturnlyClient, sent: list[httpx.Request]
) -> None:
    with pytest.raises(ValueError):
        client.create_refund(
            RefundCreate(rma="R1", line_items=[{"return_line_item_id": "1", "units": 1}]),
            idempotency_key="",
        )
    assert sent == []


def test_create_refund_uses_custom_body_template(
    make_client: Callable[..., ReturnlyClient],
    plant: Callable[..., dict[str, Any]],
    sent: list[httpx.Request],
) -> None:
    made = plant(lines=TWO_LINES)

    def template(refund: RefundCreate) -> dict[str, Any]:
        body = default_refund_body(refund)
        body["data"]["attributes"]["note"] = "via template"
        return body

    client = make_client(refund_body_template=template)
    refund = client.create_refund(_refund_all(made), idempotency_key="rf-tpl")

    assert refund.note == "via template"
    assert json.loads(sent[0].content)["data"]["attributes"]["note"] == "via template"


@pytest.mark.parametrize(
    "status", [pytest.param("canceled_by_merchant", id="canceled"), pytest.param("requested")]
)
def test_create_refund_of_unrefundable_status_conflicts(
    client: ReturnlyClient, plant: Callable[..., dict[str, Any]], status: str
) -> None:
    made = plant(lines=TWO_LINES, status=status)

    with pytest.raises(ReturnlyConflictError, match=status):
        client.create_refund(_refund_all(made), idempotency_key="rf-status")
