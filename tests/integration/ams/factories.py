"""Builders for AMS request models used across the AMS tests."""

from __future__ import annotations

from typing import Any

from clients.ams import RmaCreate, RmaLineItemCreate

ADDRESS: dict[str, Any] = {
    "customer_address_name": "Jo Rivera",
    "customer_address_street_line_one": "2 Park Ave",
    "customer_address_city": "New York",
    "customer_address_state": "NY",
    "customer_address_postal_code": "10016",
    "customer_address_country_code": "US",
}


def line(sku: str = "TEE-BLACK-M", quantity: int = 1, **kw: Any) -> RmaLineItemCreate:
    """One valid RMA line for a catalog SKU."""
    fields: dict[str, Any] = {
        "customer_sku_id": sku,
        "quantity": quantity,
        "return_reason_code": "tooBig",
        "return_inventory_status": "qc",
        **kw,
    }
    return RmaLineItemCreate(**fields)


def rma(cid: str, *lines: RmaLineItemCreate, label: bool = True, **kw: Any) -> RmaCreate:
    """A valid RMA: with a generated label and address, or with an existing package id."""
    fields: dict[str, Any] = {"customer_identifier": cid, "generate_return_label": label}
    if label:
        fields.update(ADDRESS)
    else:
        fields["package_id"] = f"1Z{cid}".replace("-", "")[:30].ljust(5, "0")
    fields.update(kw)
    return RmaCreate(line_items=list(lines) or [line()], **fields)
