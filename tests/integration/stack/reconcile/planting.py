"""Plant drift in the sandboxes: Returnly returns, AMS RMAs in any state, ledger links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.stack import Stack

SKU = "TEE-BLACK-M"
OTHER_SKU = "TEE-BLACK-XL"
PRICE = "28.00"


def ago(now: datetime, **delta: float) -> str:
    """``now`` minus ``delta`` as an RFC3339 string."""
    return (now - timedelta(**delta)).astimezone(UTC).isoformat()


def plant_return(stack: Stack, *, created: str, updated: str | None = None, **spec: Any) -> str:
    """A Returnly return (sandbox ReturnSpec fields); answers its id."""
    spec.setdefault("lines", [{"sku": SKU, "units": 1, "unit_price": PRICE}])
    return str(stack.plant(created_at=created, updated_at=updated or created, **spec)["id"])


def rma_line(
    sku: str = SKU,
    quantity: int = 1,
    received: int = 0,
    status: str = "available",
    **extra: Any,
) -> dict[str, Any]:
    """An RMA line, received ``received`` units into inventory ``status``."""
    line: dict[str, Any] = {
        "customer_sku_id": sku,
        "quantity": quantity,
        "return_reason_code": "tooBig",
        "return_inventory_status": "qc",
        "quantity_received": received,
        **extra,
    }
    if received:
        line["receiving_details"] = {status: [{"quantity": received, "notes": "planted"}]}
    return line


def plant_rma(
    stack: Stack,
    customer_identifier: str | None,
    *,
    created: str,
    status: str = "open",
    updated: str | None = None,
    received_at: str | None = None,
    lines: list[dict[str, Any]] | None = None,
) -> str:
    """An AMS RMA planted directly through the admin API; answers its AMS id."""
    body: dict[str, Any] = {
        "customer_identifier": customer_identifier,
        "status": status,
        "created_at": created,
        "updated_at": updated or created,
        "line_items": lines if lines is not None else [rma_line()],
    }
    if received_at is not None:
        body["received_at"] = received_at
    if customer_identifier is None:
        body["return_type"] = "rma_created_by_distribution_center"
    with stack.admin("ams") as admin:
        reply = admin.post("/_admin/rmas", json=body)
        reply.raise_for_status()
        return str(reply.json()["data"][0]["id"])
