"""``POST /refunds.json``: refund lines of a return (contracts §A.8.4 body, our rules)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

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
    or too many units, or a reused key with a different body.
    """
    body = await json_body(request)
    key = request.headers.get("idempotency-key") or None
    try:
        req = parse_refund_request(body)
        refund, replayed = store_of(request).refund(
            req, idempotency_key=key, body_fingerprint=fingerprint(body)
        )
    except RefundRejected as exc:
        return error_response(exc.status, exc.detail, exc.pointer)
    return json_response({"data": refund}, 200 if replayed else 201)
