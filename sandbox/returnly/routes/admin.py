"""Sandbox-only admin routes (no token): reset, seed, plant returns, move their status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from sandbox.faults import FaultConfig, FaultState
from sandbox.returnly.render import return_document
from sandbox.returnly.routes.common import ApiError, dispatcher_of, store_of
from sandbox.returnly.seed import generate
from sandbox.returnly.specs import ReturnSpec

STATUS_ALIASES = {
    "authorize": "authorized",
    "cancel": "canceled_by_merchant",
    "ship": "in_transit",
    "deliver": "delivered",
    "request": "requested",
}

router = APIRouter(prefix="/_admin", tags=["admin"])


class SeedRequest(BaseModel):
    """How many returns to generate, from which seed."""

    model_config = ConfigDict(extra="forbid")

    count: int = Field(100, ge=0, le=200_000)
    seed: int = 0


class StatusChange(BaseModel):
    """A new status, or an alias such as ``cancel``; any snake_case value is accepted."""

    model_config = ConfigDict(extra="forbid")

    status: str = Field(pattern=r"^[a-z][a-z_]*$")


@router.post("/reset")
def reset(request: Request) -> dict[str, Any]:
    """Empty the store, the delivery queue and log, and clear the faults."""
    store_of(request).reset()
    dispatcher_of(request).reset()
    faults: FaultState = request.app.state.faults
    faults.configure(FaultConfig())
    return {"ok": True}


@router.post("/seed")
def seed(request: Request, body: SeedRequest) -> dict[str, Any]:
    """Add ``count`` generated returns (reproducible for a seed)."""
    added = store_of(request).add_returns(generate(body.count, body.seed))
    return {
        "created": len(added),
        "first_id": added[0].id if added else None,
        "last_id": added[-1].id if added else None,
    }


@router.post("/returns", status_code=201)
def plant_return(request: Request, spec: ReturnSpec) -> dict[str, Any]:
    """Create one return exactly as specified; answers its ids so tests can refer to them."""
    for i, ln in enumerate(spec.lines):
        if ln.label_index is not None and not 0 <= ln.label_index < len(spec.labels):
            raise ApiError(422, f"lines[{i}].label_index has no label")
    for refund in spec.refunds:
        for pick in refund.lines or []:
            if pick.line_index >= len(spec.lines):
                raise ApiError(422, f"refund line_index {pick.line_index} has no line")
    rec = store_of(request).add_returns([spec])[0]
    return {
        "id": rec.id,
        "rma": rec.attributes["rma"],
        "line_item_ids": [ln.id for ln in rec.lines],
        "tracking_numbers": [lb["attributes"]["tracking_number"] for lb in rec.labels],
        "updated_at": rec.attributes["updated_at"],
    }


@router.post("/returns/{return_id}/status")
def change_status(request: Request, return_id: str, body: StatusChange) -> dict[str, Any]:
    """Move a return to a status; bumps ``updated_at`` and fires webhooks."""
    store = store_of(request)
    if store.get(return_id) is None:
        raise ApiError(404, f"return {return_id} not found")
    status = STATUS_ALIASES.get(body.status, body.status)
    with store.lock:
        return return_document(store.set_status(return_id, status))


@router.get("/returns/{return_id}/refunds")
def list_refunds(request: Request, return_id: str) -> dict[str, Any]:
    """Refunds of one return and how many there are."""
    store = store_of(request)
    if store.get(return_id) is None:
        raise ApiError(404, f"return {return_id} not found")
    refunds = store.refunds_of(return_id)
    return {"count": len(refunds), "refunds": refunds}
