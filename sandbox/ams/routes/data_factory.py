"""POST /data_factory/rmaEvent: make the warehouse act on RMAs and send rmaEvent callbacks (§B.8).

Like the real sandbox, it needs an rmaEvent callback registered first. Every record answers
in the records envelope; the callbacks go out afterwards from the delivery thread.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request

from sandbox.ams.delivery import Outbound
from sandbox.ams.deps import API_PREFIX, ApiError, Authed, JsonBody, array_body
from sandbox.ams.warehouse import apply_event

router = APIRouter(prefix=API_PREFIX, tags=["data_factory"])


@router.post("/data_factory/rmaEvent")
def rma_event(request: Request, sandbox: Authed, body: JsonBody = None) -> dict[str, Any]:
    """Apply each requested event; each applied event sends one message per rmaEvent callback."""
    items = array_body(body, what="rmaEvent requests")
    if not sandbox.callbacks.list("rmaEvent"):
        raise ApiError(
            400, "no rmaEvent callback is registered; register one with POST /callbacks first"
        )
    api = f"{str(request.base_url).rstrip('/')}/{sandbox.account}/api/v1"
    results: list[dict[str, Any]] = []
    outbound: list[Outbound] = []
    store = sandbox.store
    with store.lock:
        for item in items:
            cid = item.get("customer_identifier") if isinstance(item, dict) else None
            event = item.get("event", "receiveFull") if isinstance(item, dict) else None
            randomize = bool(item.get("randomize_inventory_statuses")) if cid else False
            rec = store.live(cid)
            error: str | None
            if rec is None:
                field, error = "customer_identifier", f"404: RMA '{cid}' not found"
            else:
                now = store.now_iso()
                field = "event"
                error = apply_event(rec, str(event), rng=sandbox.rng, randomize=randomize, now=now)
            if error or rec is None:
                messages = [{"field_name": field, "errors": [error]}]
                results.append(
                    {"customer_identifier": str(cid), "status": "failure", "messages": messages}
                )
                continue
            store.changed(rec, f"event:{event}")
            outbound.extend(sandbox.rma_event_messages(rec, str(event)))
            results.append(
                {
                    "customer_identifier": cid,
                    "status": "success",
                    "url": f"{api}/rmas?cid={quote(str(cid), safe='')}",
                    "messages": [],
                }
            )
    sandbox.deliverer.enqueue(outbound)
    ok = sum(r["status"] == "success" for r in results)
    return {
        "records_submitted": len(results),
        "records_processed": len(results),
        "records_failed": len(results) - ok,
        "records_succeeded": ok,
        "results": results,
    }
