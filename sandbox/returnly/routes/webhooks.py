"""Webhook subscriptions: ``POST``/``GET /webhooks.json``, ``DELETE /webhooks/{id}.json``.

The paths are our assumption (contracts §A.6 only says an API "create" endpoint exists).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, Response

from sandbox.returnly.routes.common import (
    ApiError,
    json_body,
    json_response,
    require_token,
    store_of,
)

EVENT_PATTERN = re.compile(r"^(\*|[a-z_]+\.[a-z_]+)$")

router = APIRouter(dependencies=[Depends(require_token)], tags=["webhooks"])


@router.post("/webhooks.json")
async def create_webhook(request: Request) -> Response:
    """Subscribe one URL to one event type (``return.<status>`` or ``*``)."""
    body: Any = await json_body(request)
    data = body.get("data") if isinstance(body, dict) else None
    attrs = data.get("attributes") if isinstance(data, dict) else None
    if not isinstance(attrs, dict):
        raise ApiError(422, "body must be {data: {type: 'webhooks', attributes: {...}}}", "/data")
    url, event, secret = attrs.get("url"), attrs.get("event"), attrs.get("secret")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        raise ApiError(422, "url must be an http(s) URL", "/data/attributes/url")
    if not isinstance(event, str) or not EVENT_PATTERN.fullmatch(event):
        raise ApiError(
            422, "event must look like 'return.authorized' or '*'", "/data/attributes/event"
        )
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise ApiError(422, "secret must be a non-empty string", "/data/attributes/secret")
    sub = store_of(request).subscribe(url, event, secret)
    return json_response({"data": sub.public(with_secret=True)}, 201)


@router.get("/webhooks.json")
def list_webhooks(request: Request) -> Response:
    """Every subscription, secrets left out."""
    store = store_of(request)
    with store.lock:
        data = [s.public() for s in store.subscriptions.values()]
    return json_response({"data": data})


@router.delete("/webhooks/{webhook_id}.json", status_code=204)
def delete_webhook(request: Request, webhook_id: str) -> Response:
    """Remove a subscription (404 when unknown)."""
    if not store_of(request).unsubscribe(webhook_id):
        raise ApiError(404, f"webhook {webhook_id} not found")
    return Response(status_code=204)
