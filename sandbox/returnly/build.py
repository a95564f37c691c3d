"""Turn a :class:`ReturnSpec` into stored records, and make refund resources.

Ids are numeric strings from per-kind counters, RMAs are ``"R"`` + digits, tracking numbers
look like USPS ones. Nothing here locks: the store calls it under its own lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sandbox.returnly.render import (
    INVOICE_TYPE,
    LABEL_TYPE,
    LINE_TYPE,
    REFUND_TYPE,
    REPURCHASE_TYPE,
    VOUCHER_TYPE,
    LineRecord,
    Resource,
    ReturnRecord,
    iso,
    money,
    resource,
)
from sandbox.returnly.specs import RefundSpec, ReturnSpec

ZERO = Decimal("0.00")
ZERO_S = "0.00"
CENT = Decimal("0.01")


@dataclass
class Ids:
    """Per-kind counters; reset with the store."""

    ret: int = 100000
    line: int = 500000
    label: int = 700000
    refund: int = 900000
    voucher: int = 300000
    repurchase: int = 200000
    rma: int = 1000000
    order: int = 4500000000000

    def next(self, kind: str) -> int:
        """Advance one counter and return its new value."""
        value = int(getattr(self, kind)) + 1
        setattr(self, kind, value)
        return value


def build_return(spec: ReturnSpec, ids: Ids, now: datetime) -> ReturnRecord:
    """Build a record with fresh ids; amounts are derived from the per-unit line prices."""
    rid = str(ids.next("ret"))
    created = spec.created_at or now
    updated = spec.updated_at or created
    order_id = str(ids.next("order"))
    labels = [
        resource(
            LABEL_TYPE,
            (lid := str(ids.next("label"))),
            {
                "carrier": lb.carrier,
                "tracking_number": lb.tracking_number or f"9400{int(lid):018d}",
                "weight_grams": lb.weight_grams,
                "pdf_url": f"https://labels.sandbox.returnly.test/{lid}.pdf",
            },
        )
        for lb in spec.labels
    ]
    lines: list[LineRecord] = []
    totals = {"subtotal": ZERO, "discount": ZERO, "tax": ZERO, "refund": ZERO}
    for ln in spec.lines:
        line_id = str(ids.next("line"))
        unit_refund = ln.unit_price - ln.unit_discount + ln.unit_tax
        total = unit_refund * ln.units
        label_index = ln.label_index if ln.label_index is not None else 0
        label_id = labels[label_index]["id"] if 0 <= label_index < len(labels) else None
        totals["subtotal"] += ln.unit_price * ln.units
        totals["discount"] += ln.unit_discount * ln.units
        totals["tax"] += ln.unit_tax * ln.units
        totals["refund"] += total
        attrs = {
            "sku": ln.sku,
            "units": ln.units,
            "product_name": ln.product_name,
            "product_id": None,
            "variant_id": None,
            "product_upc": None,
            "ext_order_id": ln.ext_order_id or order_id,
            "ext_order_number": ln.ext_order_number or f"#{int(order_id) % 1000000}",
            "ext_order_line_item_id": ln.ext_order_line_item_id or f"{line_id}0",
            "shipping_label_id": label_id,
            "return_cause": ln.return_cause,
            "return_sub_cause": ln.return_sub_cause,
            "original_amount": money(ln.unit_price * ln.units),
            "discount_amount": money(ln.unit_discount * ln.units),
            "tax_amount": money(ln.unit_tax * ln.units),
            "restocking_fee_amount": ZERO_S,
            "estimated_refund_amount": money(total),
            "total_refund_amount": money(total),
            "return_type": "exchange" if spec.is_exchange else "refund",
            # Shipping is neither refunded nor charged per line (the return's totals are 0.00).
            "order_shipping_refund_amount": ZERO_S,
            "return_label_cost_amount": ZERO_S,
            "return_shipping_paid_amount": ZERO_S,
            "return_location": ln.return_location,
            "return_warehouse_tag": ln.return_warehouse_tag,
            "is_ror_or_roe": bool(ln.original_rmas),
            "original_rmas": list(ln.original_rmas),
        }
        lines.append(
            LineRecord(line_id, ln.units, unit_refund, resource(LINE_TYPE, line_id, attrs))
        )
    a = spec.address
    attributes: dict[str, Any] = {
        "rma": spec.rma or f"R{ids.next('rma')}",
        "ext_store_id": spec.ext_store_id,
        "shopper_email": spec.shopper_email,
        "currency": spec.currency,
        "status": spec.status,
        "subtotal_amount": money(totals["subtotal"]),
        "discount_amount": money(totals["discount"]),
        "tax_amount": money(totals["tax"]),
        "estimated_refund_amount": money(totals["refund"]),
        "refund_amount": None,
        "restocking_fee_amount": ZERO_S,
        "order_shipping_refund": ZERO_S,
        "return_shipping_quote_amount": ZERO_S,
        "return_shipping_refund_amount": ZERO_S,
        "return_shipping_paid_amount": ZERO_S,
        "return_label_amount": ZERO_S,
        "shopper_message": spec.shopper_message,
        "merchant_notes": None,
        "is_exchange": spec.is_exchange,
        "is_gift": spec.is_gift,
        "is_exempt_from_shipping": False,
        "csr_user_id": None,
        "shopper_address": a.model_dump(),
        "created_at": iso(created),
        "updated_at": iso(updated),
        "refunded_at": None,
    }
    rec = ReturnRecord(rid, updated, attributes, lines, labels=labels)
    if spec.voucher is not None:
        vid = str(ids.next("voucher"))
        v = spec.voucher
        rec.voucher = resource(
            VOUCHER_TYPE,
            vid,
            {
                "status": v.status,
                "ext_voucher_id": f"gc_{vid}",
                "credit_issued_amount": money(v.credit_issued_amount),
                "credit_spent_amount": money(v.credit_spent_amount),
                "refund_to_shopper_amount": ZERO_S,
                "merchant_invoice_amount": ZERO_S,
                "shopper_invoice_amount": ZERO_S,
            },
        )
    _plant_repurchases(rec, spec, ids, created)
    for rs in spec.refunds:
        _plant_refund(rec, rs, ids, rs.created_at or updated)
    return rec


def _plant_repurchases(rec: ReturnRecord, spec: ReturnSpec, ids: Ids, when: datetime) -> None:
    """Repurchases paid with voucher credit first, the shopper paying the rest (the uplift).

    The credit they spend is the voucher's ``credit_spent_amount``, in repurchase order, so the
    voucher and its repurchases agree. Each repurchase has one ``invoice_items`` record (same
    id, a zero Returnly fee) and, when there is a voucher, one ``voucher_repurchase_details``.
    """
    voucher = rec.voucher
    remaining = to_spend = ZERO
    if voucher is not None and spec.voucher is not None:
        remaining = spec.voucher.credit_issued_amount
        to_spend = min(spec.voucher.credit_spent_amount, remaining)
    processed = iso(when)
    for rp in spec.repurchases:
        pid = str(ids.next("repurchase"))
        spent = max(min(to_spend, rp.total_order_amount), ZERO)
        to_spend -= spent
        remaining -= spent
        uplift = rp.total_order_amount - spent
        details: list[dict[str, Any]] = []
        if voucher is not None:
            ext_voucher_id = str(voucher["attributes"]["ext_voucher_id"])
            details.append(
                {
                    "ext_voucher_id": ext_voucher_id,
                    "credit_spent_amount": money(spent),
                    "remaining_credit_amount": money(remaining),
                    "fee_amount": ZERO_S,
                    "gift_card_last4": ext_voucher_id[-4:],
                    "processed_at": processed,
                    "invoice_item_id": pid,
                }
            )
        rec.repurchases.append(
            resource(
                REPURCHASE_TYPE,
                pid,
                {
                    "repurchase_type": rp.repurchase_type,
                    "order_id": str(ids.next("order")),
                    "order_number": f"#{pid}",
                    "total_order_amount": money(rp.total_order_amount),
                    "processed_at": processed,
                    "total_credit_spent_amount": money(spent),
                    "total_shopper_uplift_amount": money(uplift),
                    "shopper_uplift_charge_id": f"ch_{pid}" if uplift > ZERO else None,
                    "total_returnly_fee_amount": ZERO_S,
                    "commission_adjustment_invoice_id": None,
                    "returnly_payment_id": f"rp_{pid}",
                    "merchant_payment_id": None,
                    "voucher_repurchase_details": details,
                },
            )
        )
        rec.invoice_items.append(
            resource(
                INVOICE_TYPE,
                pid,
                {
                    "invoice_type": "repurchase_fee",
                    "invoice_amount": ZERO_S,
                    "created_at": processed,
                    "invoiced_at": processed,
                    "paid_at": None,
                },
            )
        )


def _plant_refund(rec: ReturnRecord, spec: RefundSpec, ids: Ids, when: datetime) -> None:
    if spec.lines is None:
        picks = [(ln, ln.units) for ln in rec.lines]
    else:
        picks = [(rec.lines[p.line_index], p.units) for p in spec.lines]
    refund = make_refund(rec, picks, spec.deduction_amount, spec.note, ids, when)
    record_refund(rec, refund, when)


def make_refund(
    rec: ReturnRecord,
    picks: Sequence[tuple[LineRecord, int]],
    deduction: Decimal,
    note: str | None,
    ids: Ids,
    when: datetime,
) -> Resource:
    """A refund resource for ``units`` of each picked line, minus ``deduction``."""
    fid = str(ids.next("refund"))
    items = [
        {
            "return_line_item_id": ln.id,
            "units": units,
            "amount": money((ln.unit_refund * units).quantize(CENT)),
        }
        for ln, units in picks
    ]
    gross = sum((ln.unit_refund * units for ln, units in picks), ZERO)
    first = picks[0][0].resource["attributes"] if picks else {}
    out = resource(
        REFUND_TYPE,
        fid,
        {
            "rma": rec.attributes["rma"],
            "refund_amount": money((gross - deduction).quantize(CENT)),
            "deduction_amount": money(deduction),
            "restock": False,
            "note": note,
            "line_items": items,
            "ext_order_id": first.get("ext_order_id"),
            "ext_order_number": first.get("ext_order_number"),
            "ext_refund_id": f"rf_{fid}",
            "refund_target": "original_payment",
            "ext_voucher_id": None,
            "created_at": iso(when),
            "updated_at": iso(when),
        },
    )
    out["relationships"] = {"return": {"data": {"type": "returns", "id": rec.id}}}
    return out


def record_refund(rec: ReturnRecord, refund: Resource, when: datetime) -> None:
    """Attach a refund and update the return's refund totals."""
    rec.refunds.append(refund)
    total = sum((Decimal(r["attributes"]["refund_amount"]) for r in rec.refunds), ZERO)
    rec.attributes["refund_amount"] = money(total)
    rec.attributes["refunded_at"] = iso(when)
    rec.touch()
