"""Turn a verified Returnly delivery into an inbox item (contracts §A.6, §A.8.5).

The event is a hint: only the return id, status and ``updated_at`` are kept, and the return
is re-read through the API when the message is processed. Values covered by the signature
(the body) win over the unsigned headers; when both are present they must agree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from clients.returnly import parse_return_document
from tasks.inbox import SOURCE_RETURNLY
from webhooks.errors import WebhookPayloadError
from webhooks.inbox import InboxItem

EVENT_HEADER = "x-returnly-event"
DELIVERY_HEADER = "x-returnly-delivery"
TIMESTAMP_HEADER = "x-returnly-timestamp"
SIGNATURE_HEADER = "x-returnly-signature"
RETURN_EVENT_PREFIX = "return."
EVENT_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
MAX_EVENT_LEN = 64
MAX_ID_LEN = 255
_SAFE_HEADERS = (EVENT_HEADER, DELIVERY_HEADER, TIMESTAMP_HEADER, "user-agent", "content-type")


def _signed_or_header(body: Mapping[str, Any], key: str, header: str | None, what: str) -> str:
    signed = body.get(key)
    if signed is not None and not isinstance(signed, str):
        raise WebhookPayloadError(f"{what} must be a string")
    if signed and header and signed != header:
        raise WebhookPayloadError(f"{what} in the body and the header disagree")
    value = signed or header
    if not value:
        raise WebhookPayloadError(f"missing {what}")
    return value


def _problems(exc: ValidationError) -> str:
    """Field locations only: pydantic's own text would echo shopper data."""
    locs = {".".join(str(p) for p in e["loc"]) for e in exc.errors(include_input=False)}
    return ", ".join(sorted(locs)[:5])


def parse_returnly_delivery(raw_body: bytes, headers: Mapping[str, str]) -> InboxItem | None:
    """The inbox item for a delivery, or ``None`` for events that are not about a return."""
    try:
        body = json.loads(raw_body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WebhookPayloadError("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise WebhookPayloadError("body is not a JSON object")
    event = _signed_or_header(body, "event", headers.get(EVENT_HEADER), "event")
    if len(event) > MAX_EVENT_LEN or not EVENT_PATTERN.match(event):
        raise WebhookPayloadError("event must look like 'return.authorized'")
    delivery_id = _signed_or_header(body, "id", headers.get(DELIVERY_HEADER), "delivery id")
    if len(delivery_id) > MAX_ID_LEN:
        raise WebhookPayloadError("delivery id is too long")
    if not event.startswith(RETURN_EVENT_PREFIX):
        return None
    document = body.get("data")
    if not isinstance(document, dict):
        raise WebhookPayloadError("data must be the JSON:API document of the return")
    try:
        ret = parse_return_document(document)
    except ValidationError as exc:
        raise WebhookPayloadError(f"data is not a return document ({_problems(exc)})") from None
    except (ValueError, TypeError, KeyError):
        raise WebhookPayloadError("data is not a return document") from None
    if len(ret.id) > MAX_ID_LEN:
        raise WebhookPayloadError("return id is too long")
    updated = ret.updated_at.isoformat()
    created_at = body.get("created_at")
    return InboxItem(
        source=SOURCE_RETURNLY,
        message_id=delivery_id,
        kind=event,
        subject_id=ret.id,
        payload={
            "delivery_id": delivery_id,
            "event": event,
            "return_id": ret.id,
            "rma": ret.rma,
            "status": ret.status,
            "updated_at": updated,
            "created_at": created_at if isinstance(created_at, str) else None,
            # Contracts §A.8.5's second dedupe key, kept for review and replays.
            "hint_key": f"{event}:{ret.id}:{updated}",
        },
    )


def rejection_excerpt(headers: Mapping[str, str], body_size: int | None) -> dict[str, Any]:
    """What a rejected delivery is remembered by: a few headers, never the signature or body."""
    excerpt: dict[str, Any] = {}
    for name in _SAFE_HEADERS:
        value = headers.get(name)
        if value:
            excerpt[name] = value[:200]
    excerpt["content_length"] = headers.get("content-length")
    excerpt["body_bytes"] = body_size
    return excerpt
