"""/rmas: create, full-replace update, soft delete and search (contracts §B.2-§B.5).

Writes answer HTTP 200 with a per-record success/failure in the records envelope; only a
body that is not an array of 1..30 records gets a 400. The ``duplicate_identifiers=accept``
fault lets POST create a second live RMA for a customer_identifier already in use.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from sandbox.ams.deps import API_PREFIX, ApiError, Authed, JsonBody, array_body, require_auth
from sandbox.ams.records import (
    EDITABLE,
    WRITABLE_FIELDS,
    Messages,
    detail,
    flatten_address,
    parse_dt,
    stored_line,
    summary,
    validate_rma,
)
from sandbox.ams.state import AmsSandbox
from sandbox.ams.store import Query

router = APIRouter(prefix=API_PREFIX, tags=["rmas"])


def _api_base(request: Request, sandbox: AmsSandbox) -> str:
    return f"{str(request.base_url).rstrip('/')}/{sandbox.account}/api/v1"


def _result(
    cid: Any, api: str, messages: Messages, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "customer_identifier": cid if isinstance(cid, str) else str(cid),
        "status": "failure" if messages else "success",
        "messages": messages,
    }
    if not messages and isinstance(cid, str):
        out["url"] = f"{api}/rmas?cid={quote(cid, safe='')}"
    if extra:
        out["additional_data"] = extra
    return out


def _envelope(results: list[dict[str, Any]]) -> dict[str, Any]:
    ok = sum(r["status"] == "success" for r in results)
    return {
        "records_submitted": len(results),
        "records_processed": len(results),
        "records_failed": len(results) - ok,
        "records_succeeded": ok,
        "results": results,
    }


def _error(field: str, text: str) -> Messages:
    return [{"field_name": field, "errors": [text]}]


def _apply_fields(rec: dict[str, Any], body: dict[str, Any]) -> None:
    """Full replacement of everything the client may write."""
    for name in WRITABLE_FIELDS:
        if name != "line_items":
            rec[name] = body.get(name)
    rec["generate_return_label"] = body.get("generate_return_label", True)
    rec["line_items"] = [stored_line(li) for li in body["line_items"]]


def _label(rec: dict[str, Any], sandbox: AmsSandbox, api: str) -> dict[str, Any] | None:
    """Generate a label when asked and none exists yet; returns the additional_data."""
    if not rec["generate_return_label"]:
        rec["return_label_url"] = None
        return None
    if rec.get("return_label_url"):
        rec["package_id"] = rec.get("_label_tracking") or rec.get("package_id")
        return None
    tracking = sandbox.tracking_number()
    rec["package_id"] = rec["_label_tracking"] = tracking
    rec["return_label_url"] = f"{api}/return-labels/{tracking}.pdf"
    return {"return_label_url": rec["return_label_url"], "return_tracking_number": tracking}


Outcome = tuple[Any, Messages, dict[str, Any] | None]
"""One record's answer: its customer_identifier, failure messages (none: success), extra."""
RecordHandler = Callable[[Any, AmsSandbox, str], Outcome]


def _batch(
    request: Request, sandbox: AmsSandbox, body: Any, what: str, handle: RecordHandler
) -> dict[str, Any]:
    """Apply ``handle`` to each record under the store lock; one result per record."""
    api = _api_base(request, sandbox)
    results = []
    with sandbox.store.lock:
        for raw in array_body(body, what=what):
            cid, messages, extra = handle(raw, sandbox, api)
            results.append(_result(cid, api, messages, extra))
    return _envelope(results)


def _validated(raw: Any) -> tuple[Any, Any, Messages]:
    """(record with its address flattened, its customer_identifier, schema messages)."""
    record = flatten_address(raw) if isinstance(raw, dict) else raw
    cid = record.get("customer_identifier") if isinstance(record, dict) else None
    return record, cid, validate_rma(record)


def _create_one(raw: Any, sandbox: AmsSandbox, api: str) -> Outcome:
    record, cid, messages = _validated(raw)
    store = sandbox.store
    if not messages and store.live(cid) is not None:
        if sandbox.faults.config.duplicate_identifiers == "accept":
            # Fault: a second live RMA with the same identifier, as a retried POST makes.
            sandbox.faults.count("duplicate_identifier")
        else:
            messages = _error(
                "customer_identifier",
                f"301: '{cid}' is already taken and 'customer_identifier' must be unique",
            )
    if messages:
        return cid, messages, None
    now = store.now_iso()
    rec: dict[str, Any] = {"id": str(uuid.uuid4()), "customer_identifier": cid}
    _apply_fields(rec, record)
    rec.update(status="open", version=1, created_at=now, updated_at=now)
    extra = _label(rec, sandbox, api)
    store.add(rec)
    return cid, [], extra


def _update_one(raw: Any, sandbox: AmsSandbox, api: str) -> Outcome:
    record, cid, messages = _validated(raw)
    store = sandbox.store
    rec = store.live(cid) if not messages else None
    if not messages and rec is None:
        messages = _error("customer_identifier", f"404: RMA '{cid}' not found")
    elif rec is not None and rec["status"] not in EDITABLE:
        messages = _error(
            "status",
            f"RMA is '{rec['status']}'; updates are allowed only while " + ", ".join(EDITABLE),
        )
    if messages or rec is None:
        return cid, messages, None
    _apply_fields(rec, record)
    extra = _label(rec, sandbox, api)
    rec["version"] = int(rec.get("version") or 1) + 1
    rec["updated_at"] = store.now_iso()
    store.changed(rec, "update")
    return cid, [], extra


def _delete_one(raw: Any, sandbox: AmsSandbox, _api: str) -> Outcome:
    store = sandbox.store
    cid = raw.get("customer_identifier") if isinstance(raw, dict) else None
    rec = store.live(cid) if isinstance(cid, str) else None
    if not isinstance(cid, str):
        return cid, _error("customer_identifier", "is required"), None
    if rec is None:
        return cid, _error("customer_identifier", f"404: RMA '{cid}' not found"), None
    if rec["status"] != "open":
        return cid, _error("status", f"RMA is '{rec['status']}'; only open RMAs delete"), None
    now = store.now_iso()
    rec.update(status="deleted", deleted_at=now, updated_at=now)
    store.changed(rec, "delete")
    return cid, [], None


@router.post("/rmas")
def create_rmas(request: Request, sandbox: Authed, body: JsonBody = None) -> dict[str, Any]:
    """Create RMAs; each record succeeds or fails on its own."""
    return _batch(request, sandbox, body, "RMAs", _create_one)


@router.put("/rmas")
def update_rmas(request: Request, sandbox: Authed, body: JsonBody = None) -> dict[str, Any]:
    """Replace RMAs while open/tendered/inTransit; every change adds a version."""
    return _batch(request, sandbox, body, "RMAs", _update_one)


@router.delete("/rmas")
def delete_rmas(request: Request, sandbox: Authed, body: JsonBody = None) -> dict[str, Any]:
    """Soft-delete open RMAs; the customer_identifier may be reused afterwards."""
    return _batch(request, sandbox, body, "{customer_identifier} objects", _delete_one)


def _many(request: Request, name: str) -> list[str]:
    """Both ``?id=a,b`` and ``?id=a&id=b``."""
    values = request.query_params.getlist(name)
    return [v.strip() for raw in values for v in raw.split(",") if v.strip()]


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise ApiError(400, f"{name} must be between {lo} and {hi}")
    return value


def _query(request: Request) -> Query:
    q = Query(ids=_many(request, "id"), cids=_many(request, "cid"))
    if len(q.ids) > 30:
        raise ApiError(400, "id accepts at most 30 values")
    q.statuses = [s for s in _many(request, "status") if s != "all"]
    for name in ("sdt", "edt"):
        raw = request.query_params.get(name)
        if raw:
            try:
                setattr(q, name, parse_dt(raw))
            except ValueError:
                raise ApiError(400, f"{name} must be an RFC3339 date-time") from None
    return q


@router.get("/rmas")
def list_rmas(request: Request, sandbox: Authed) -> JSONResponse:
    """Search RMAs; answers the object envelope of the spec example, not a bare array."""
    q = _query(request)
    offset = _int_param(request, "offset", 0, 0, 10**9)
    limit = _int_param(request, "limit", 30, 1, 100)
    list_type = request.query_params.get("list_type") or "detail"
    if list_type not in ("detail", "summary"):
        raise ApiError(400, "list_type must be detail or summary")
    store = sandbox.store
    with store.lock:
        ids = store.search(q)
        page = [store.get(i) for i in ids[offset : offset + limit]]
        render = detail if list_type == "detail" else summary
        data = [render(rec) for rec in page if rec is not None]
    out: dict[str, Any] = {
        "search_criteria": {
            "ids": q.ids or None,
            "cids": q.cids or None,
            "status": ",".join(q.statuses) or "all",
            "sdt": request.query_params.get("sdt"),
            "edt": request.query_params.get("edt"),
        },
        "limit": limit,
        "offset": offset,
        "list_type": list_type,
        "data": data,
    }
    if request.query_params.get("include_counts") == "true":
        out["include_counts"] = True
        out["total_count"] = len(ids)
    # JSONResponse skips FastAPI's generic encoder, which dominates the cost of a page.
    return JSONResponse(out)


@router.get("/return-labels/{name}", dependencies=[Depends(require_auth)])
def return_label(name: str) -> Response:
    """A placeholder PDF for a generated label (needs the normal API auth)."""
    tracking = name.removesuffix(".pdf")
    return Response(
        f"%PDF-1.4\n% sandbox label {tracking}\n".encode(), media_type="application/pdf"
    )
