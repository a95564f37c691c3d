"""What the warehouse does to an RMA in the DataFactory (contracts §B.8), and the rmaEvent items.

Quantities and inventory statuses come from the sandbox's seeded RNG, so a seed replays the
same receipts. Items are built in both api_version shapes (§B.7); the v2.0 ``details`` copy
the spec example's string ``version`` and ``generate_return_label`` so receivers meet them.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from sandbox.ams.records import detail
from sandbox.catalog import CATALOG_SKUS

EVENTS = (
    "receiveFull",
    "receivePartial",
    "receiveUnexpected",
    "receivingStarted",
    "tendered",
    "inTransit",
    "delivered",
    "undeliverable",
)
RECEIVE_EVENTS = frozenset({"receiveFull", "receivePartial", "receiveUnexpected"})
STATUS_AFTER = {
    "receivingStarted": "in-receiving",
    "tendered": "tendered",
    "inTransit": "inTransit",
    "delivered": "delivered",
    "undeliverable": "undeliverable",
}
FINAL_STATUSES = frozenset({"received", "deleted"})
RANDOM_STATUSES = (
    "available",
    "quality-control",
    "damaged",
    "under-investigation",
    "refurbishing",
    "quarantine",
)
_NOTES = {
    "available": "Good condition",
    "damaged": "Has a hole",
    "quality-control": "Needs inspection",
    "qc": "Needs inspection",
    "under-investigation": "Tag missing",
    "refurbishing": "Needs pressing",
    "quarantine": "Held for review",
}
WAREHOUSE = {
    "warehouse_id": "1342",
    "warehouse_address": "3072 Haven Ave",
    "return_service_level": "ground",
    "receiving_inventory_location": "Rancho Cucamonga",
}


def _details(rng: random.Random, qty: int, target: str, randomize: bool) -> dict[str, Any]:
    if qty <= 0:
        return {}
    if not randomize:
        return {target: [{"quantity": qty, "notes": _NOTES.get(target, "Received")}]}
    counts: dict[str, int] = {}
    for _ in range(qty):
        status = rng.choice(RANDOM_STATUSES)
        counts[status] = counts.get(status, 0) + 1
    return {s: [{"quantity": n, "notes": _NOTES[s]}] for s, n in counts.items()}


def _received_quantities(
    rng: random.Random, lines: list[dict[str, Any]], partial: bool
) -> list[int]:
    wanted = [int(li.get("quantity") or 0) for li in lines]
    if not partial:
        return wanted
    got = [rng.randint(0, q) for q in wanted]
    if got == wanted:
        # "Partial" must leave at least one line short.
        shortable = [i for i, q in enumerate(wanted) if q > 0]
        if shortable:
            i = rng.choice(shortable)
            got[i] = rng.randint(0, wanted[i] - 1)
    return got


def _receive(
    rec: dict[str, Any], event: str, rng: random.Random, randomize: bool, now: str
) -> None:
    originals = [li for li in rec["line_items"] if not li.get("not_on_original_rma")]
    got = _received_quantities(rng, originals, event == "receivePartial")
    for line, qty in zip(originals, got, strict=True):
        target = line.get("return_inventory_status") or "available"
        line["quantity_received"] = qty
        line["receiving_details"] = _details(rng, qty, target, randomize)
    if event == "receiveUnexpected":
        on_rma = {li.get("customer_sku_id") for li in rec["line_items"]}
        sku = rng.choice(sorted(CATALOG_SKUS - on_rma))
        rec["line_items"].append(
            {
                "customer_sku_id": sku,
                "quantity": 0,
                "quantity_received": 1,
                "return_reason_code": "other",
                "return_inventory_status": "qc",
                "not_on_original_rma": True,
                "receiving_details": _details(rng, 1, "available", randomize),
            }
        )
    rec["status"] = "received"
    rec["received_at"] = rec["processed_at"] = now
    rec.setdefault("delivered_at", now)


def apply_event(
    rec: dict[str, Any], event: str, *, rng: random.Random, randomize: bool, now: str
) -> str | None:
    """Change the record for one DataFactory event; returns an error text when refused."""
    if event not in EVENTS:
        return f"event must be one of {', '.join(EVENTS)}"
    if rec.get("status") in FINAL_STATUSES:
        return f"RMA is {rec.get('status')}; the warehouse can no longer act on it"
    if event in RECEIVE_EVENTS:
        _receive(rec, event, rng, randomize, now)
    else:
        rec["status"] = STATUS_AFTER[event]
        if event == "delivered":
            rec["delivered_at"] = now
    rec["updated_at"] = now
    return None


def v1_item(rec: dict[str, Any]) -> dict[str, Any]:
    """api_version 1.0: the full RMA as GET /rmas shows it (a snapshot, not a live view)."""
    return copy.deepcopy(detail(rec))


def v2_item(rec: dict[str, Any], event: str, as_of: str) -> dict[str, Any]:
    """api_version 2.0: a short item, or status + details on receipt (spec examples)."""
    head = {"id": rec["id"], "customer_identifier": rec.get("customer_identifier")}
    if event not in RECEIVE_EVENTS:
        return {**head, "event_type": event, "as_of": as_of}
    details = {**copy.deepcopy(detail(rec)), **WAREHOUSE}
    details["version"] = str(rec.get("version", 1))
    details["generate_return_label"] = "true" if rec.get("return_label_url") else "false"
    return {**head, "status": "received", "as_of": as_of, "details": details}
