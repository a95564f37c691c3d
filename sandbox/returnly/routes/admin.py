"""Sandbox-only admin routes (no token): reset, rendering settings, seed, plant returns, move
their status, the API request log and a raw export of every return, refund and refund request."""

from __future__ import annotations

import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sandbox.faults import FaultConfig, FaultState
from sandbox.requestlog import RequestLog
from sandbox.returnly.render import money, return_document
from sandbox.returnly.routes.common import ApiError, dispatcher_of, store_of
from sandbox.returnly.seed import generate
from sandbox.returnly.settings import SandboxSettings
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
    """Empty the store, the delivery queue and log, clear the faults, default the settings."""
    store_of(request).reset()
    dispatcher_of(request).reset()
    faults: FaultState = request.app.state.faults
    faults.configure(FaultConfig())
    _requests(request).clear()
    return {"ok": True}


@router.get("/settings")
def get_settings(request: Request) -> dict[str, Any]:
    """How documents are rendered now (see :class:`~sandbox.returnly.settings.SandboxSettings`)."""
    return store_of(request).settings.model_dump()


@router.put("/settings")
def put_settings(request: Request, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Change some settings, e.g. ``{"empty_to_one": "null"}``; the others stay as they are."""
    store = store_of(request)
    with store.lock:
        try:
            settings = SandboxSettings.model_validate({**store.settings.model_dump(), **body})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ApiError(400, f"bad settings: {problems}") from None
        store.settings = settings
    return settings.model_dump()


def _requests(request: Request) -> RequestLog:
    log: RequestLog = request.app.state.requests
    return log


@router.get("/requests")
def requests(
    request: Request,
    since: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Any:
    """API requests received since the last reset, oldest first (see :mod:`sandbox.requestlog`).

    Each: ``method``, ``path``, ``status_code``, ``at``, ``fault`` when one was injected, and
    for ``POST /refunds.json`` the ``idempotency_key`` (never a token). Without parameters: a
    bare list; with ``since`` (entry index, 0 = first since the reset) and/or ``limit``:
    ``{"next": <index to ask next>, "requests": [...]}``.
    """
    return _requests(request).page(since, limit)


@router.get("/requests/summary")
def requests_summary(request: Request) -> dict[str, Any]:
    """Counts by (method, path template, status): ``{"total", "counts": [{method, path,
    status_code, count}]}``, e.g. ``GET /returns/{id}.json``; every request since the reset."""
    return _requests(request).summary()


@router.get("/export")
def export(request: Request) -> Response:
    """Every return, refund and refund request, raw, for checking a run from the outside.

    ``{"exported_at" (unix s), "counts": {returns, refunds, refund_requests},
    "returns": [...], "refunds": [...], "refund_requests": [...]}``:

    - return: ``{id, status, rma, created_at, updated_at, refund_amount, tracking_numbers,
      lines: [{id, sku, units, unit_refund}], refund_ids}``;
    - refund: ``{refund_id, return_id, rma, refund_amount, deduction_amount, line_items:
      [{return_line_item_id, units, amount}], created_at, request}`` where ``request`` is the
      ``POST /refunds.json`` that made it (``{at, idempotency_key, body, status_code}``), or
      null for a planted refund;
    - refund_request: every ``POST /refunds.json`` in arrival order: ``{at (unix s),
      idempotency_key, body, status_code}`` plus ``replayed, refund_id, return_id,
      refund_amount`` when it was answered with a refund, or ``error`` when refused.
    """
    store = store_of(request)
    with store.lock:
        made_by: dict[str, dict[str, Any]] = {}
        for entry in store.refund_requests:
            rid = entry.get("refund_id")
            if rid is not None and not entry.get("replayed") and rid not in made_by:
                made_by[rid] = entry
        returns: list[dict[str, Any]] = []
        refunds: list[dict[str, Any]] = []
        for rec in store.all_records():
            a = rec.attributes
            returns.append(
                {
                    "id": rec.id,
                    "status": rec.status,
                    "rma": a["rma"],
                    "created_at": a["created_at"],
                    "updated_at": a["updated_at"],
                    "refund_amount": a["refund_amount"],
                    "tracking_numbers": [lb["attributes"]["tracking_number"] for lb in rec.labels],
                    "lines": [
                        {
                            "id": ln.id,
                            "sku": ln.resource["attributes"]["sku"],
                            "units": ln.units,
                            "unit_refund": money(ln.unit_refund),
                        }
                        for ln in rec.lines
                    ],
                    "refund_ids": [r["id"] for r in rec.refunds],
                }
            )
            for r in rec.refunds:
                ra = r["attributes"]
                made = made_by.get(r["id"])
                refunds.append(
                    {
                        "refund_id": r["id"],
                        "return_id": rec.id,
                        "rma": ra["rma"],
                        "refund_amount": ra["refund_amount"],
                        "deduction_amount": ra["deduction_amount"],
                        "line_items": ra["line_items"],
                        "created_at": ra["created_at"],
                        "request": None
                        if made is None
                        else {
                            k: made.get(k) for k in ("at", "idempotency_key", "body", "status_code")
                        },
                    }
                )
        document = {
            "exported_at": time.time(),
            "counts": {
                "returns": len(returns),
                "refunds": len(refunds),
                "refund_requests": len(store.refund_requests),
            },
            "returns": returns,
            "refunds": refunds,
            "refund_requests": store.refund_requests,
        }
        raw = orjson.dumps(document)
    return Response(raw, media_type="application/json")


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
        rec = store.set_status(return_id, status)
        return return_document(rec, empty_to_one=store.settings.empty_to_one)


@router.get("/returns/{return_id}/refunds")
def list_refunds(request: Request, return_id: str) -> dict[str, Any]:
    """Refunds of one return and how many there are."""
    store = store_of(request)
    if store.get(return_id) is None:
        raise ApiError(404, f"return {return_id} not found")
    refunds = store.refunds_of(return_id)
    return {"count": len(refunds), "refunds": refunds}
