"""Builders for the core rule tests: small, valid by default, every field overridable."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from clients.ams.models import Rma, RmaLine
from clients.returnly.models import (
    Refund,
    RefundLineItem,
    Return,
    ReturnLineItem,
    ShippingLabel,
    ShopperAddress,
)
from core.mapping import customer_identifier_for
from core.policy import InventoryStatusRule, MerchantPolicy

WHEN = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
TRACKING = "9400111899223344556677"


def address(**overrides: Any) -> ShopperAddress:
    """A complete US address."""
    fields: dict[str, Any] = {
        "name": "Ada Lovelace",
        "line1": "12 Analytical Way",
        "line2": None,
        "city": "Portland",
        "state": "OR",
        "postal_code": "97201",
        "country_code": "US",
    }
    fields.update(overrides)
    return ShopperAddress(**fields)


def line(
    id: str = "L1",
    sku: str | None = "TEE-BLACK-M",
    units: int = 1,
    *,
    order: str | None = "#1001",
    order_id: str | None = "5001",
    order_line: str | None = "OL1",
    cause: str | None = "too_big",
    sub_cause: str | None = None,
    amount: str | None = "28.00",
    **extra: Any,
) -> ReturnLineItem:
    """One Returnly line; ``amount`` is the whole line's estimated refund."""
    return ReturnLineItem(
        id=id,
        sku=sku,
        units=units,
        ext_order_number=order,
        ext_order_id=order_id,
        ext_order_line_item_id=order_line,
        return_cause=cause,
        return_sub_cause=sub_cause,
        estimated_refund_amount=None if amount is None else Decimal(amount),
        **extra,
    )


def label(tracking: str | None = TRACKING, id: str = "SL1") -> ShippingLabel:
    """A Returnly-issued return label."""
    return ShippingLabel(id=id, carrier="USPS", tracking_number=tracking)


def refund(*units_by_line: tuple[str, int], id: str = "RF1") -> Refund:
    """An existing Returnly refund; no arguments means one without line detail."""
    return Refund(
        id=id,
        line_items=[RefundLineItem(return_line_item_id=i, units=n) for i, n in units_by_line],
    )


def returnly_return(
    *lines: ReturnLineItem,
    id: str = "1001",
    rma: str = "RMA1001",
    labels: list[ShippingLabel] | None = None,
    shopper_address: ShopperAddress | None = None,
    status: str = "authorized",
    **extra: Any,
) -> Return:
    """A return with the given lines (one default line when none), a label and a US address."""
    return Return(
        id=id,
        rma=rma,
        status=status,
        created_at=WHEN,
        updated_at=WHEN,
        line_items=list(lines) or [line()],
        shipping_labels=[label()] if labels is None else labels,
        shopper_address=address() if shopper_address is None else shopper_address,
        **extra,
    )


def rma_line(
    sku: str = "TEE-BLACK-M",
    quantity: int = 1,
    *,
    order: str | None = "#1001",
    received: dict[str, int] | None = None,
    quantity_received: int | None = None,
    not_on_original_rma: bool = False,
    target: str = "qc",
) -> RmaLine:
    """An AMS RMA line; ``received`` is units per inventory status (the inspection result)."""
    details = {status: [{"notes": "", "quantity": n}] for status, n in (received or {}).items()}
    if quantity_received is None and received is not None:
        quantity_received = sum(received.values())
    return RmaLine.model_validate(
        {
            "customer_sku_id": sku,
            "customer_order_id": order,
            "quantity": quantity,
            "quantity_received": quantity_received,
            "return_reason_code": "tooBig",
            "return_inventory_status": target,
            "not_on_original_rma": not_on_original_rma,
            "receiving_details": details,
        }
    )


def rma(
    *lines: RmaLine,
    return_id: str = "1001",
    status: str = "received",
    customer_identifier: str | None = None,
) -> Rma:
    """A received AMS RMA for the return ``return_id``."""
    cid = customer_identifier_for(return_id) if customer_identifier is None else customer_identifier
    return Rma(
        id="6f1c2a8e-0000-4000-8000-000000000001",
        customer_identifier=cid,
        status=status,
        line_items=list(lines),
    )


def policy(**overrides: Any) -> MerchantPolicy:
    """The default merchant policy, with overrides."""
    return MerchantPolicy(**overrides)


def deduct(fraction: str) -> InventoryStatusRule:
    """A refund-with-deduction rule."""
    return InventoryStatusRule(action="refund_with_deduction", deduction_fraction=Decimal(fraction))
