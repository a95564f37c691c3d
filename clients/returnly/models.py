"""Pydantic models of the Returnly API (contracts §A.3, §A.4, §A.8).

Response models tolerate unknown fields: Returnly's field list is reconstructed from archived
client code. The return itself and the loosely typed records keep them (``extra="allow"``, see
``model_extra``); the high-volume included records ignore them, which makes a page ~30% cheaper
to validate. Request models forbid unknown fields so a typo never reaches the wire. Ids are
strings even when the API sends numbers (RES1 stores them as integers, JSON:API says strings).
Field types live in :mod:`clients.returnly.fields`; :mod:`clients.returnly.jsonapi` turns
documents into these models.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)

from clients.returnly.fields import (
    CANCELED_STATUSES,
    DEFAULT_INCLUDE,
    KNOWN_STATUSES,
    Flag,
    Items,
    Money,
    Text,
    Timestamp,
    is_actionable_status,
    none_is_empty,
)

__all__ = [  # the status helpers are re-exported: callers import them from here
    "CANCELED_STATUSES",
    "DEFAULT_INCLUDE",
    "KNOWN_STATUSES",
    "InstantRefundVoucher",
    "InvoiceItem",
    "Refund",
    "RefundCreate",
    "RefundLineItem",
    "RefundLineItemCreate",
    "Repurchase",
    "Return",
    "ReturnLineItem",
    "ShippingLabel",
    "ShopperAddress",
    "VoucherRepurchaseDetail",
    "WebhookSubscription",
    "WebhookSubscriptionCreate",
    "is_actionable_status",
]


class _Response(BaseModel):
    """Base of everything Returnly sends us: tolerant of new fields and numeric ids."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class _LooseResponse(_Response):
    """A response model that keeps unknown fields in ``model_extra``."""

    model_config = ConfigDict(extra="allow")


class _Request(BaseModel):
    """Base of request bodies: unknown fields are a bug on our side."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


# --- included resources (§A.4) ---------------------------------------------------------------


class ShopperAddress(_Response):
    """The shopper's address as Returnly holds it (not yet fitted to AMS limits)."""

    name: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country_code: str | None = None


class ReturnLineItem(_Response):
    """One returned line; one line per unit is possible, so group by sku + order line (§A.8.6)."""

    id: str
    sku: str | None = None
    units: int = 1
    """The quantity being returned on this line."""
    ext_order_id: str | None = None
    ext_order_number: str | None = None
    ext_order_line_item_id: str | None = None
    product_upc: str | None = None
    product_name: str | None = None
    product_id: str | None = None
    variant_id: str | None = None
    shipping_label_id: str | None = None
    """Which label this line travels under, when the return has several."""
    return_cause: str | None = None
    return_sub_cause: str | None = None
    original_amount: Money = None
    discount_amount: Money = None
    estimated_refund_amount: Money = None
    restocking_fee_amount: Money = None
    order_shipping_refund_amount: Money = None
    return_label_cost_amount: Money = None
    return_shipping_paid_amount: Money = None
    total_refund_amount: Money = None
    tax_amount: Money = None
    return_type: str | None = None
    return_location: str | None = None
    return_warehouse_tag: str | None = None
    is_ror_or_roe: bool | None = None
    """The item itself came from an earlier return or exchange (see ``original_rmas``)."""
    original_rmas: Items = None
    """RMAs of those earlier returns (a single value is read as a one-item list)."""


class ShippingLabel(_Response):
    """A return label; its tracking number can identify the RMA (§A.7)."""

    id: str
    carrier: str | None = None
    tracking_number: str | None = None
    pdf_url: str | None = None
    weight_grams: int | None = None


class RefundLineItem(_Response):
    """Units refunded on one return line (present when the API reports them)."""

    return_line_item_id: str
    units: int
    amount: Money = None


class Refund(_Response):
    """A refund issued against a return."""

    id: str
    refund_amount: Money = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    ext_order_id: str | None = None
    ext_order_number: str | None = None
    ext_refund_id: str | None = None
    refund_target: str | None = None
    ext_voucher_id: str | None = None
    restock: bool | None = None
    deduction_amount: Money = None
    note: str | None = None
    line_items: list[RefundLineItem] = Field(default_factory=list)
    return_id: str | None = None
    """Filled from the refund's ``return`` relationship when the API sends one."""


class InstantRefundVoucher(_Response):
    """Instant credit given before the goods arrive (disabled when a return is canceled)."""

    id: str
    status: str | None = None
    credit_issued_amount: Money = None
    credit_spent_amount: Money = None
    ext_voucher_id: str | None = None
    refund_to_shopper_amount: Money = None
    merchant_invoice_amount: Money = None
    shopper_invoice_amount: Money = None


class VoucherRepurchaseDetail(_LooseResponse):
    """How much of one voucher a repurchase spent (``voucher_repurchase_details[]``)."""

    ext_voucher_id: str | None = None
    credit_spent_amount: Money = None
    remaining_credit_amount: Money = None
    fee_amount: Money = None
    gift_card_last4: str | None = None
    processed_at: Timestamp | None = None
    invoice_item_id: str | None = None


class Repurchase(_LooseResponse):
    """A repurchase made with return credit; kept loose (the bridge only reports on it)."""

    id: str
    repurchase_type: str | None = None
    order_id: str | None = None
    order_number: str | None = None
    total_credit_spent_amount: Money = None
    total_order_amount: Money = None
    total_shopper_uplift_amount: Money = None
    shopper_uplift_charge_id: str | None = None
    total_returnly_fee_amount: Money = None
    processed_at: Timestamp | None = None
    commission_adjustment_invoice_id: str | None = None
    returnly_payment_id: str | None = None
    merchant_payment_id: str | None = None
    voucher_repurchase_details: Annotated[
        list[VoucherRepurchaseDetail], BeforeValidator(none_is_empty)
    ] = Field(default_factory=list)
    """Empty when absent or ``null``; one entry per voucher the repurchase drew on."""


class InvoiceItem(_LooseResponse):
    """A Returnly invoice line; kept loose (the bridge only reports on it)."""

    id: str
    invoice_type: str | None = None
    invoice_amount: Money = None
    created_at: Timestamp | None = None
    invoiced_at: Timestamp | None = None
    paid_at: Timestamp | None = None


# --- the return (§A.3) -----------------------------------------------------------------------


class Return(_LooseResponse):
    """A Returnly return (RMA) with its included records resolved onto it.

    ``status`` is an opaque string: unknown values are kept, and :attr:`is_actionable` tells
    whether the bridge may act on it. Relationship lists are empty when the records were not
    requested with ``include=`` (or the relationship was absent, ``[]`` or ``null``).

    Every attribute may be missing without failing the page: ``rma`` and ``status`` become
    ``""`` (no manifest id; not actionable, so manual review), and a missing ``created_at``
    or ``updated_at`` is taken from the other one. Both production clients (RES1, RES2) read
    ``updated_at`` unconditionally, so a return without either timestamp is refused.
    """

    id: str
    rma: Text = ""
    status: Text = ""
    created_at: Timestamp
    updated_at: Timestamp
    refunded_at: Timestamp | None = None
    ext_store_id: str | None = None
    shopper_email: str | None = None
    currency: str | None = None
    order_shipping_refund: Money = None
    return_shipping_quote_amount: Money = None
    return_shipping_refund_amount: Money = None
    return_shipping_paid_amount: Money = None
    subtotal_amount: Money = None
    estimated_refund_amount: Money = None
    refund_amount: Money = None
    restocking_fee_amount: Money = None
    tax_amount: Money = None
    discount_amount: Money = None
    return_label_amount: Money = None
    shopper_message: str | None = None
    merchant_notes: str | None = None
    is_exchange: Flag = False
    is_gift: Flag = False
    is_exempt_from_shipping: bool | None = None
    csr_user_id: str | None = None
    shopper_address: ShopperAddress | None = None
    line_items: list[ReturnLineItem] = Field(default_factory=list)
    shipping_labels: list[ShippingLabel] = Field(default_factory=list)
    refunds: list[Refund] = Field(default_factory=list)
    instant_refund_voucher: InstantRefundVoucher | None = None
    repurchases: list[Repurchase] = Field(default_factory=list)
    invoice_items: list[InvoiceItem] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _one_timestamp_stands_for_both(cls, data: Any) -> Any:
        if type(data) is not dict:
            return data
        created, updated = data.get("created_at"), data.get("updated_at")
        if created is None and updated is not None:
            return {**data, "created_at": updated}
        if updated is None and created is not None:
            return {**data, "updated_at": created}
        return data

    @property
    def is_actionable(self) -> bool:
        """True when the status is one the bridge knows how to handle (§A.8.3)."""
        return self.status in KNOWN_STATUSES

    @property
    def is_refunded(self) -> bool:
        """Whether a refund exists already; the bridge must then not post another (§A.8.4)."""
        return self.status == "refunded" or bool(self.refunds)

    @property
    def tracking_numbers(self) -> list[str]:
        """Tracking numbers of all labels, in label order."""
        return [lb.tracking_number for lb in self.shipping_labels if lb.tracking_number]


# --- requests (§A.8.4) -----------------------------------------------------------------------


class RefundLineItemCreate(_Request):
    """Refund ``units`` of one return line."""

    return_line_item_id: str = Field(min_length=1)
    units: int = Field(ge=1)


class RefundCreate(_Request):
    """Body of a refund request; ``restock`` is always false because AMS owns inventory."""

    rma: str | None = None
    tracking_number: str | None = None
    """Alternative identifier: any one of the return's tracking numbers (§A.7)."""
    restock: Literal[False] = False
    line_items: list[RefundLineItemCreate] = Field(min_length=1)
    deduction_amount: Decimal = Field(default=Decimal("0.00"), ge=0, decimal_places=2)
    note: str | None = None

    @model_validator(mode="after")
    def _one_identifier(self) -> RefundCreate:
        if bool(self.rma) == bool(self.tracking_number):
            raise ValueError("give exactly one of rma or tracking_number")
        return self

    def attributes(self) -> dict[str, Any]:
        """The wire attributes (§A.8.4 shape): amounts as "0.00" strings, no null identifiers."""
        out: dict[str, Any] = {"rma": self.rma} if self.rma else {}
        if self.tracking_number:
            out["tracking_number"] = self.tracking_number
        out["restock"] = False
        out["line_items"] = [
            {"return_line_item_id": li.return_line_item_id, "units": li.units}
            for li in self.line_items
        ]
        out["deduction_amount"] = f"{self.deduction_amount:.2f}"
        if self.note is not None:
            out["note"] = self.note
        return out


class WebhookSubscription(_Response):
    """One webhook subscription (one event type each, §A.6); ``secret`` only on creation."""

    id: str
    url: str
    event: str
    secret: SecretStr | None = None
    created_at: Timestamp | None = None


class WebhookSubscriptionCreate(_Request):
    """Subscribe ``url`` to one event type such as ``return.authorized``."""

    url: str = Field(min_length=1)
    event: str = Field(min_length=1)
    secret: SecretStr | None = None
