"""Every Returnly attribute contracts §A.3 and §A.4 list, as production clients (RES1/RES2) read
them; shared by the contract tests of the sandbox's output and of the client's tolerance."""

from __future__ import annotations

from typing import Final

A3_RETURN: Final = (
    "rma",
    "ext_store_id",
    "shopper_email",
    "currency",
    "status",
    "order_shipping_refund",
    "return_shipping_quote_amount",
    "return_shipping_refund_amount",
    "return_shipping_paid_amount",
    "subtotal_amount",
    "estimated_refund_amount",
    "refund_amount",
    "restocking_fee_amount",
    "tax_amount",
    "discount_amount",
    "shopper_message",
    "merchant_notes",
    "is_exchange",
    "is_gift",
    "is_exempt_from_shipping",
    "return_label_amount",
    "csr_user_id",
    "shopper_address",
    "created_at",
    "updated_at",
    "refunded_at",
)
"""§A.3: the attributes of a ``returns`` resource."""

A3_SHOPPER_ADDRESS: Final = (
    "name",
    "line1",
    "line2",
    "city",
    "state",
    "postal_code",
    "country_code",
)
"""§A.3: the keys of ``shopper_address``."""

A4_INCLUDED: Final[dict[str, tuple[str, ...]]] = {
    "return_line_items": (
        "ext_order_line_item_id",
        "ext_order_id",
        "ext_order_number",
        "sku",
        "product_upc",
        "product_name",
        "product_id",
        "variant_id",
        "shipping_label_id",
        "return_cause",
        "return_sub_cause",
        "original_amount",
        "discount_amount",
        "estimated_refund_amount",
        "restocking_fee_amount",
        "order_shipping_refund_amount",
        "return_label_cost_amount",
        "return_shipping_paid_amount",
        "total_refund_amount",
        "tax_amount",
        "units",
        "return_type",
        "return_location",
        "return_warehouse_tag",
        "is_ror_or_roe",
        "original_rmas",
    ),
    "shipping_labels": ("carrier", "weight_grams", "tracking_number", "pdf_url"),
    "refunds": (
        "ext_order_id",
        "ext_order_number",
        "ext_refund_id",
        "refund_amount",
        "refund_target",
        "ext_voucher_id",
        "created_at",
        "updated_at",
    ),
    "instant_refund_voucher": (
        "status",
        "credit_issued_amount",
        "credit_spent_amount",
        "ext_voucher_id",
        "refund_to_shopper_amount",
        "merchant_invoice_amount",
        "shopper_invoice_amount",
    ),
    "repurchases": (
        "repurchase_type",
        "order_id",
        "order_number",
        "total_credit_spent_amount",
        "total_order_amount",
        "total_shopper_uplift_amount",
        "shopper_uplift_charge_id",
        "total_returnly_fee_amount",
        "processed_at",
        "commission_adjustment_invoice_id",
        "returnly_payment_id",
        "merchant_payment_id",
        "voucher_repurchase_details",
    ),
    "invoice_items": ("invoice_type", "invoice_amount", "invoiced_at", "paid_at", "created_at"),
}
"""§A.4: the attributes of each included ``type``."""

A4_VOUCHER_REPURCHASE_DETAIL: Final = (
    "ext_voucher_id",
    "credit_spent_amount",
    "remaining_credit_amount",
    "fee_amount",
    "gift_card_last4",
    "processed_at",
    "invoice_item_id",
)
"""§A.4: the keys of each ``repurchases.voucher_repurchase_details[]`` entry."""

FULL_RETURN_SPEC: Final[dict[str, object]] = {
    "status": "refunded",
    "created_at": "2024-03-01T10:00:00.000001Z",
    "updated_at": "2024-03-02T10:00:00.000002Z",
    "shopper_message": "Swapping for a bigger size",
    "is_exchange": True,
    "labels": [{"carrier": "UPS"}],
    "lines": [
        {
            "sku": "TEE-BLACK-M",
            "units": 2,
            "unit_price": "28.00",
            "unit_tax": "2.24",
            "return_location": "Reno returns dock",
            "return_warehouse_tag": "west",
            "original_rmas": ["R1000042"],
        },
        {"sku": "TEE-BLACK-S", "units": 1, "unit_price": "30.00"},
    ],
    "voucher": {"credit_issued_amount": "25.00", "credit_spent_amount": "25.00"},
    "repurchases": [{"total_order_amount": "40.00"}],
    "refunds": [{"created_at": "2024-03-02T09:00:00Z"}],
}
"""A planted return with a record of every included type and non-null optional fields."""
