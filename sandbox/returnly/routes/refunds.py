"""``POST /refunds.json``: refund lines of a return (contracts §A.8.4 body, our rules)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from sandbox.faults import FaultState
from sandbox.returnly.refunding import RefundRejected, fingerprint, parse_refund_request
from sandbox.returnly.routes.common import (
    error_response,
    json_body,
    json_response,
    require_token,
    store_of,
)

router = APIRouter(dependencies=[Depends(require_token)], tags=["refunds"])


@router.post("/refunds.json")
async def create_refund(request: Request) -> Response:
    """201 with the new refund, 200 with the same one on an Idempotency-Key replay.

    409 when the return already has a refund; 422 for a bad body, restock true, unknown lines
    or too many units, or a reused key with a different body. With the
    ``refund_idempotency=none`` fault every valid request makes a new refund (201).
    Every request is kept (body, key, outcome) for ``/_admin/export``.
    """
    body = await json_body(request)
    key = request.headers.get("idempotency-key") or None
    faults: FaultState = request.app.state.faults
    strict = faults.config.refund_idempotency == "strict"
    store = store_of(request)
    entry: dict[str, Any] = {"at": time.time(), "idempotency_key": key, "body": body}
    try:
        req = parse_refund_request(body)
        key_reused = store.key_used(key)
        refund, replayed = store.refund(
            req, idempotency_key=key, body_fingerprint=fingerprint(body), strict=strict
        )
    except RefundRejected as exc:
        store.log_refund_request({**entry, "status_code": exc.status, "error": exc.detail})
        return error_response(exc.status, exc.detail, exc.pointer)
    status = 200 if replayed else 201
    return_id = refund["relationships"]["return"]["data"]["id"]
    if not strict:
        rec = store.get(return_id)
        if rec is not None and len(rec.refunds) > 1:
            faults.count("duplicate_refund")
        if key_reused:
            faults.count("idempotency_ignored")
    store.log_refund_request(
        {
            **entry,
            "status_code": status,
            "replayed": replayed,
            "refund_id": refund["id"],
            "return_id": return_id,
            "refund_amount": refund["attributes"]["refund_amount"],
        }
    )
    return json_response({"data": refund}, status)
