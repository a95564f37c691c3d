"""/callbacks and /callback_holds (contracts §B.6).

POST answers the per-record ``results`` envelope a production client expects (the records
envelope of ``rma_response``, as the spec schema and GEM have it; the spec *example* is a bare
array); GET never echoes tokens; DELETE takes an array of callback ids and answers the text
"callbacks deleted".
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request

from sandbox.ams.deps import API_PREFIX, ApiError, Authed, JsonBody, array_body

router = APIRouter(prefix=API_PREFIX, tags=["callbacks"])

MESSAGE_TYPES = (
    "skuInventoryChange",
    "orderEvent",
    "orderUpdateResolution",
    "orderCancelResolution",
    "inboundShipmentEvent",
    "rmaEvent",
    "snapshotReady",
)
API_VERSIONS = ("1.0", "2.0")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _problems(item: Any) -> list[str]:
    if not isinstance(item, dict):
        return ["callback must be an object"]
    out = []
    url = item.get("url")
    if not isinstance(url, str) or not 1 <= len(url) <= 250:
        out.append("url: required, 1..250 characters")
    else:
        parts = urlsplit(url)
        secure = parts.scheme == "https" and bool(parts.hostname)
        loopback = parts.scheme == "http" and parts.hostname in LOOPBACK
        if not (secure or loopback):
            out.append("url: must be https (plain http only for loopback in the sandbox)")
    if item.get("message_type") not in MESSAGE_TYPES:
        out.append(f"message_type: must be one of {', '.join(MESSAGE_TYPES)}")
    if item.get("api_version", "1.0") not in API_VERSIONS:
        out.append("api_version: must be '1.0' or '2.0'")
    token = item.get("token")
    if token is not None and not isinstance(token, str):
        out.append("token: must be a string")
    return out


@router.post("/callbacks")
def create_callbacks(request: Request, sandbox: Authed, body: JsonBody = None) -> dict[str, Any]:
    """Register callbacks; re-registering a (url, message_type) pair updates it.

    ``{records_submitted, records_processed, records_failed, records_succeeded, results}``;
    each result is ``{id, url, message_type, api_version, status: success, link,
    messages: [text]}`` or ``{url?, message_type?, status: failure, messages: [text]}``.
    """
    api = f"{str(request.base_url).rstrip('/')}/{sandbox.account}/api/v1"
    out: list[dict[str, Any]] = []
    for item in array_body(body, what="callbacks"):
        problems = _problems(item)
        if problems:
            failed: dict[str, Any] = {"status": "failure", "messages": problems}
            if isinstance(item, dict):
                for key in ("url", "message_type"):
                    if isinstance(item.get(key), str):
                        failed[key] = item[key]
            out.append(failed)
            continue
        reg, new = sandbox.callbacks.upsert(
            item["url"], item["message_type"], item.get("api_version", "1.0"), item.get("token")
        )
        out.append(
            {
                **reg.public(),
                "status": "success",
                "link": f"{api}/callbacks?message_type={reg.message_type}",
                "messages": ["Callback url created." if new else "Callback url updated."],
            }
        )
    ok = sum(r["status"] == "success" for r in out)
    return {
        "records_submitted": len(out),
        "records_processed": len(out),
        "records_failed": len(out) - ok,
        "records_succeeded": ok,
        "results": out,
    }


@router.get("/callbacks")
def list_callbacks(sandbox: Authed, message_type: str = "all") -> list[dict[str, Any]]:
    """Registered callbacks of one type, or all."""
    if message_type != "all" and message_type not in MESSAGE_TYPES:
        raise ApiError(400, f"message_type must be 'all' or one of {', '.join(MESSAGE_TYPES)}")
    return [reg.public() for reg in sandbox.callbacks.list(message_type)]


@router.delete("/callbacks")
def delete_callbacks(sandbox: Authed, body: JsonBody = None) -> str:
    """Delete callbacks by id (unknown ids are ignored, as deleting twice must be safe)."""
    ids = array_body(body, what="callback ids")
    if not all(isinstance(i, str) for i in ids):
        raise ApiError(400, "request body must be an array of callback id strings")
    sandbox.callbacks.delete(str(i) for i in ids)
    return "callbacks deleted"


def _hold_types(body: Any) -> list[str]:
    items = array_body(body, what="{message_type} objects")
    types = [i.get("message_type") if isinstance(i, dict) else None for i in items]
    if not all(t in MESSAGE_TYPES for t in types):
        raise ApiError(400, f"message_type must be one of {', '.join(MESSAGE_TYPES)}")
    return [str(t) for t in types]


@router.post("/callback_holds")
def create_holds(sandbox: Authed, body: JsonBody = None) -> Any:
    """Pause delivery of message types until the hold is deleted."""
    types = _hold_types(body)
    for t in types:
        sandbox.deliverer.hold(t)
        sandbox.callbacks.holds.setdefault(t, sandbox.store.now_iso())
    return [{"message_type": t, "created_at": sandbox.callbacks.holds[t]} for t in types]


@router.get("/callback_holds")
def list_holds(sandbox: Authed) -> Any:
    """Message types on hold."""
    return [{"message_type": t, "created_at": at} for t, at in sandbox.callbacks.holds.items()]


@router.delete("/callback_holds")
def delete_holds(sandbox: Authed, body: JsonBody = None) -> Any:
    """Release held message types: everything held is sent as one batch."""
    for t in _hold_types(body):
        sandbox.callbacks.holds.pop(t, None)
        sandbox.deliverer.release(t)
    return "callback holds deleted"
