"""Per-record validation of RMA writes and the wire forms of a stored RMA (contracts §B.3, §B.5).

Errors use the spec schema shape ``[{field_name, errors[]}]``. The rules are written here
independently of the client's own checks, so the two can catch each other's mistakes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sandbox.catalog import CATALOG_SKUS

RETURN_TYPES = (
    "returned_to_sender",
    "rma_submitted_by_customer",
    "rma_created_by_distribution_center",
)
REASON_CODES = ("tooBig", "tooSmall", "damaged", "wrongItem", "other")
INVENTORY_STATUSES = (
    "available",
    "qc",
    "damaged",
    "quarantine",
    "quality-control",
    "refurbishing",
    "under-investigation",
    "disposed",
)
EDITABLE = ("open", "tendered", "inTransit")
_TOP_LENGTHS = {
    "customer_identifier": (5, 250),
    "manifest_id": (1, 20),
    "package_id": (5, 100),
    "customer_address_name": (1, 30),
    "customer_address_street_line_one": (1, 40),
    "customer_address_street_line_two": (1, 40),
    "customer_address_city": (1, 30),
    "customer_address_state": (2, 2),
    "customer_address_postal_code": (1, 20),
    "customer_address_country_code": (2, 2),
    "customer_instructions": (0, 250),
}
_LINE_LENGTHS = {
    "customer_sku_id": (2, 100),
    "customer_order_id": (2, 100),
    "return_notes": (2, 50),
}
_ADDRESS_FIELDS = (
    "customer_address_name",
    "customer_address_street_line_one",
    "customer_address_city",
    "customer_address_state",
    "customer_address_postal_code",
    "customer_address_country_code",
)
WRITABLE_FIELDS = (*_TOP_LENGTHS, "return_type", "generate_return_label", "line_items")

Messages = list[dict[str, Any]]


def iso(dt: datetime | None) -> str | None:
    """RFC3339 in UTC with a ``Z``."""
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_dt(value: str) -> datetime:
    """RFC3339 (``Z`` or offset); a naive value is taken as UTC."""
    dt = datetime.fromisoformat(value.strip().replace("z", "Z"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class _Errors:
    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, field: str, text: str) -> None:
        self.by_field.setdefault(field, []).append(text)

    def messages(self) -> Messages:
        return [{"field_name": f, "errors": e} for f, e in self.by_field.items()]


def _check_string(errs: _Errors, field: str, value: Any, lo: int, hi: int) -> None:
    if not isinstance(value, str):
        errs.add(field, "must be a string")
        return
    if len(value) < lo:
        errs.add(field, f"length {len(value)} is below the minimum of {lo}")
    elif len(value) > hi:
        errs.add(field, f"length {len(value)} is above the maximum of {hi}")


def flatten_address(record: dict[str, Any]) -> dict[str, Any]:
    """MD's PUT example nests ``customer_address{}``; accept it as the flat fields."""
    nested = record.get("customer_address")
    if not isinstance(nested, dict):
        return record
    flat = {k: v for k, v in record.items() if k != "customer_address"}
    for key, value in nested.items():
        flat.setdefault(f"customer_address_{key}", value)
    return flat


def _check_line(errs: _Errors, i: int, line: Any) -> None:
    prefix = f"line_items[{i}]"
    if not isinstance(line, dict):
        errs.add(prefix, "must be an object")
        return
    for field in ("customer_sku_id", "quantity", "return_reason_code", "return_inventory_status"):
        if line.get(field) is None:
            errs.add(f"{prefix}.{field}", "is required")
    for field, (lo, hi) in _LINE_LENGTHS.items():
        if line.get(field) is not None:
            _check_string(errs, f"{prefix}.{field}", line[field], lo, hi)
    sku = line.get("customer_sku_id")
    if isinstance(sku, str) and 2 <= len(sku) <= 100 and sku not in CATALOG_SKUS:
        errs.add(f"{prefix}.customer_sku_id", f"404: sku '{sku}' does not exist in the catalog")
    qty = line.get("quantity")
    if qty is not None and (not isinstance(qty, int) or isinstance(qty, bool) or qty < 1):
        errs.add(f"{prefix}.quantity", "must be an integer of at least 1")
    code = line.get("return_reason_code")
    if code is not None and code not in REASON_CODES:
        errs.add(f"{prefix}.return_reason_code", f"must be one of {', '.join(REASON_CODES)}")
    status = line.get("return_inventory_status")
    if status is not None and status not in INVENTORY_STATUSES:
        errs.add(f"{prefix}.return_inventory_status", "is not a known inventory status")


def validate_rma(record: Any) -> Messages:
    """Schema and length rules of one POST/PUT record; empty when valid."""
    errs = _Errors()
    if not isinstance(record, dict):
        errs.add("record", "must be an object")
        return errs.messages()
    for field in ("customer_identifier", "return_type", "line_items"):
        if record.get(field) is None:
            errs.add(field, "is required")
    for field, (lo, hi) in _TOP_LENGTHS.items():
        if record.get(field) is not None:
            _check_string(errs, field, record[field], lo, hi)
    if record.get("return_type") is not None and record["return_type"] not in RETURN_TYPES:
        errs.add("return_type", f"must be one of {', '.join(RETURN_TYPES)}")
    country = record.get("customer_address_country_code")
    if isinstance(country, str) and len(country) == 2 and country != "US":
        errs.add("customer_address_country_code", "only 'US' is supported")
    label = record.get("generate_return_label", True)
    if not isinstance(label, bool):
        errs.add("generate_return_label", "must be a boolean")
    elif not label and record.get("package_id") is None:
        errs.add("package_id", "is required when generate_return_label is false")
    elif label:
        for field in _ADDRESS_FIELDS:
            if record.get(field) is None:
                errs.add(field, "is required when generate_return_label is true")
    lines = record.get("line_items")
    if lines is not None:
        if not isinstance(lines, list) or not lines:
            errs.add("line_items", "must be a non-empty array")
        else:
            for i, line in enumerate(lines):
                _check_line(errs, i, line)
    return errs.messages()


def stored_line(line: dict[str, Any]) -> dict[str, Any]:
    """A line as stored: the client's fields plus the receiving fields AMS adds."""
    keep = ("customer_order_id", "customer_sku_id", "quantity", "return_reason_code")
    out = {k: line[k] for k in (*keep, "return_notes") if line.get(k) is not None}
    out["return_inventory_status"] = line.get("return_inventory_status", "qc")
    out["quantity_received"] = int(line.get("quantity_received") or 0)
    out["not_on_original_rma"] = bool(line.get("not_on_original_rma", False))
    out["receiving_details"] = dict(line.get("receiving_details") or {})
    return out


def detail(rec: dict[str, Any]) -> dict[str, Any]:
    """The detail form: the schema's types, with absent values omitted instead of null."""
    out = {
        k: v
        for k, v in rec.items()
        if v is not None and k != "generate_return_label" and not k.startswith("_")
    }
    out["line_items"] = [{k: v for k, v in li.items() if v is not None} for li in rec["line_items"]]
    return out


def summary(rec: dict[str, Any]) -> dict[str, Any]:
    """The summary form (spec ``return_summary`` item)."""
    lines = rec["line_items"]
    orders = [li["customer_order_id"] for li in lines if li.get("customer_order_id")]
    out = {
        "id": rec["id"],
        "customer_order_id": orders[0] if orders else None,
        "customer_identifier": rec.get("customer_identifier"),
        "return_type": rec.get("return_type"),
        "return_package_id": rec.get("package_id"),
        "return_status": rec.get("status"),
        "number_skus": len({li.get("customer_sku_id") for li in lines}),
        "number_units": sum(int(li.get("quantity") or 0) for li in lines),
        "processed_at": rec.get("processed_at"),
    }
    return {k: v for k, v in out.items() if v is not None}
