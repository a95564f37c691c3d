"""Sandbox-only admin routes (``/_admin``, no auth): deliveries, settings, reset, planted RMAs,
the request log and a raw export of everything the sandbox holds.

Planting puts an RMA in any state directly, e.g. one the warehouse created on its own with
no Returnly return behind it, or one received long ago, so drift cases can be staged.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from sandbox.ams.delivery import DeliverySettings
from sandbox.ams.deps import Admin, ApiError, JsonBody
from sandbox.ams.records import detail, iso, parse_dt, stored_line
from sandbox.ams.state import AmsSandbox
from sandbox.ams.store import Query as RmaQuery
from sandbox.ams.warehouse import STATUS_AFTER
from sandbox.catalog import CATALOG

router = APIRouter(prefix="/_admin", tags=["admin"])

_EVENT_OF_STATUS = {v: k for k, v in STATUS_AFTER.items()} | {"received": "receiveFull"}


@router.get("/deliveries")
def deliveries(sandbox: Admin) -> dict[str, Any]:
    """Every delivery attempt so far (tokens redacted), plus what is still queued."""
    d = sandbox.deliverer
    return {"pending": d.pending(), "holds": d.holds, "deliveries": list(d.log)}


@router.get("/requests")
def requests(
    sandbox: Admin,
    since: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Any:
    """API requests received since the last reset, oldest first (see :mod:`sandbox.requestlog`).

    Each: ``method``, ``path``, ``status_code``, ``at``, and ``fault`` when one was injected.
    Without parameters: a bare list of the entries kept. With ``since`` (an entry index,
    0 = the first since the reset) and/or ``limit``: ``{"next": <index to ask next>,
    "requests": [...]}``.
    """
    return sandbox.requests.page(since, limit)


@router.get("/requests/summary")
def requests_summary(sandbox: Admin) -> dict[str, Any]:
    """Counts by (method, path template, status): ``{"total", "counts": [{method, path,
    status_code, count}]}``; ids in paths are ``{id}``; covers every request since the reset."""
    return sandbox.requests.summary()


@router.get("/export")
def export(sandbox: Admin) -> Response:
    """Everything the sandbox holds, raw, for checking a run from the outside.

    ``{"account", "exported_at" (unix s), "counts": {rmas, live, deleted, callbacks},
    "rmas": [...], "callbacks": [...], "deleted_callbacks": [...], "holds": [...]}``.
    Each RMA has its stored fields (``id``, ``customer_identifier``, ``status``,
    ``version``, ``created_at``, ``updated_at``, ``deleted_at``, ``line_items``... soft-deleted
    ones included) plus ``history``: ``[{at, action, version, status, changes}]`` where
    ``action`` is ``create``, ``update``, ``delete``, ``event:<DataFactory event>``,
    ``plant`` or ``admin:status``, and ``changes`` maps each changed field to ``{from, to}``
    (``null`` for the first entry). Callbacks: ``{id, url, message_type, api_version,
    has_token, created_at, updated_at, deleted_at}``; tokens are never exported.
    """
    callbacks = sandbox.callbacks
    live = [reg.export() for reg in callbacks.list()]
    with callbacks.lock:
        deleted = [reg.export() for reg in callbacks.deleted]
        holds = [{"message_type": t, "created_at": at} for t, at in callbacks.holds.items()]
    store = sandbox.store
    with store.lock:
        # Serialized under the lock: the records are shared, mutable dicts.
        rmas = [
            {**{k: v for k, v in rec.items() if not k.startswith("_")}, "history": rec["_history"]}
            for rec in store.all_records()
        ]
        n_deleted = sum(r.get("status") == "deleted" for r in rmas)
        document = {
            "account": sandbox.account,
            "exported_at": time.time(),
            "counts": {
                "rmas": len(rmas),
                "live": len(rmas) - n_deleted,
                "deleted": n_deleted,
                "callbacks": len(live),
            },
            "rmas": rmas,
            "callbacks": live,
            "deleted_callbacks": deleted,
            "holds": holds,
        }
        raw = orjson.dumps(document)
    return Response(raw, media_type="application/json")


@router.post("/deliveries/flush")
def flush(sandbox: Admin, timeout_s: float = 10.0) -> dict[str, Any]:
    """Wait until nothing is due or in flight (held messages stay held)."""
    drained = sandbox.deliverer.flush(timeout_s)
    return {"drained": drained, "pending": sandbox.deliverer.pending()}


@router.post("/reset")
def reset(sandbox: Admin) -> dict[str, Any]:
    """Empty account, default settings, no faults, RNG reseeded."""
    sandbox.reset()
    return {"reset": True}


@router.get("/settings")
def get_settings(sandbox: Admin) -> dict[str, Any]:
    """Current delivery settings."""
    return sandbox.deliverer.settings.model_dump()


@router.put("/settings")
def put_settings(sandbox: Admin, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Change some delivery settings (e.g. ``token_delivery``); the others stay."""
    merged = {**sandbox.deliverer.settings.model_dump(), **body}
    try:
        sandbox.deliverer.settings = DeliverySettings.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc']}: {e['msg']}" for e in exc.errors(include_input=False))
        raise ApiError(400, f"bad settings: {problems}") from None
    return sandbox.deliverer.settings.model_dump()


def _plant(sandbox: AmsSandbox, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ApiError(400, "each planted RMA must be an object")
    rec = dict(raw)
    cid = rec.get("customer_identifier")
    rec.setdefault("id", str(uuid.uuid4()))
    rec.setdefault("status", "open")
    default_type = "rma_submitted_by_customer" if cid else "rma_created_by_distribution_center"
    rec.setdefault("return_type", default_type)
    rec.setdefault("version", 1)
    for name in ("created_at", "updated_at", "received_at", "processed_at", "deleted_at"):
        if rec.get(name) is not None:
            try:
                rec[name] = iso(parse_dt(str(rec[name])))
            except ValueError:
                raise ApiError(400, f"{name} must be an RFC3339 date-time") from None
    rec["line_items"] = [stored_line(li) for li in rec.get("line_items") or []]
    if cid is not None and rec["status"] != "deleted" and sandbox.store.live(cid) is not None:
        raise ApiError(409, f"a live RMA '{cid}' already exists")
    if sandbox.store.get(rec["id"]) is not None:
        raise ApiError(409, f"an RMA with id '{rec['id']}' already exists")
    return sandbox.store.add(rec, action="plant")


@router.post("/rmas")
def plant_rmas(sandbox: Admin, body: JsonBody, echo: bool = True) -> JSONResponse:
    """Insert RMAs as given (object or array): any status, dates, lines and receipts.

    ``echo=false`` answers only the count and ids (bulk seeding of tens of thousands).
    """
    items = body if isinstance(body, list) else [body]
    with sandbox.store.lock:
        planted = [_plant(sandbox, raw) for raw in items]
        if not echo:
            return JSONResponse({"count": len(planted), "ids": [r["id"] for r in planted]})
        return JSONResponse({"data": [detail(rec) for rec in planted]})


@router.post("/rmas/{customer_identifier}/status")
def set_status(
    customer_identifier: str,
    sandbox: Admin,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    """Force a status; ``notify: true`` also sends the matching rmaEvent callbacks."""
    status = body.get("status")
    if not isinstance(status, str) or not status:
        raise ApiError(400, "status is required")
    store = sandbox.store
    with store.lock:
        rec = store.live(customer_identifier)
        if rec is None:
            ids = store.search(RmaQuery(cids=[customer_identifier]))
            rec = store.get(ids[-1]) if ids else None
        if rec is None:
            raise ApiError(404, f"RMA '{customer_identifier}' not found")
        now = store.now_iso()
        rec.update(status=status, updated_at=now)
        if status == "received":
            rec.setdefault("received_at", now)
            rec["processed_at"] = rec.get("processed_at") or now
        if status == "deleted":
            rec["deleted_at"] = now
        store.changed(rec, "admin:status")
        outbound = []
        if body.get("notify"):
            event = _EVENT_OF_STATUS.get(status, status)
            outbound = sandbox.rma_event_messages(rec, event)
        result = detail(rec)
    sandbox.deliverer.enqueue(outbound)
    return result


@router.get("/catalog")
def catalog() -> list[dict[str, str]]:
    """The SKUs the sandbox accepts on RMA lines."""
    return [{"sku": i.sku, "name": i.name, "price": i.price} for i in CATALOG]
