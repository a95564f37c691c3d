"""Turn a verified Returnly delivery into an inbox item (contracts §A.6, §A.8.5).

Only signed facts count. The signature covers ``f"{timestamp}." + body`` and nothing else,
so everything that decides what is stored and dispatched comes from the body: the delivery
id (``id``, the inbox dedupe key), the event (``event``) and the return id (``data``). The
``X-Returnly-Event`` and ``X-Returnly-Delivery`` headers are unsigned hints: when present they
must agree with the body (400 otherwise), and they never stand in for a missing value, so a
captured signed body replayed with other headers is refused or a duplicate, never a new
message. The event stays a hint about the return, which is re-read through the API when
the message is processed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from clients.returnly import parse_return_document
from ledger.inbox import SOURCE_RETURNLY
from webhooks.errors import WebhookPayloadError
from webhooks.grammar import RETURNLY_EVENT, check_id
from webhooks.inbox import InboxItem

EVENT_HEADER = "x-returnly-event"
DELIVERY_HEADER = "x-returnly-delivery"
TIMESTAMP_HEADER = "x-returnly-timestamp"
SIGNATURE_HEADER = "x-returnly-signature"
RETURN_EVENT_PREFIX = "return."
EVENT_PATTERN = RETURNLY_EVENT
_SAFE_HEADERS = (EVENT_HEADER, DELIVERY_HEADER, TIMESTAMP_HEADER, "user-agent", "content-type")
_PARSE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError)


def _signed(body: Mapping[str, Any], key: str, hint: str | None, what: str) -> str:
    """A non-empty string from the signed body; an unsigned header may only agree with it."""
    value = body.get(key)
    if value is None or value == "":
        raise WebhookPayloadError(f"missing {what} in the signed body")
    if not isinstance(value, str):
        raise WebhookPayloadError(f"{what} must be a string")
    if hint is not None and hint != value:
        raise WebhookPayloadError(f"{what} in the body and the header disagree")
    return value


def _problems(exc: ValidationError) -> str:
    """Field locations only: pydantic's own text would echo shopper data."""
    locs = {".".join(str(p) for p in e["loc"]) for e in exc.errors(include_input=False)}
    return ", ".join(sorted(locs)[:5])


def parse_returnly_delivery(body: Any, headers: Mapping[str, str]) -> InboxItem | None:
    """The inbox item for a verified, parsed delivery; ``None`` for events not about a return."""
    if not isinstance(body, dict):
        raise WebhookPayloadError("body is not a JSON object")
    event = _signed(body, "event", headers.get(EVENT_HEADER), "event")
    if not RETURNLY_EVENT.fullmatch(event):
        raise WebhookPayloadError("event must look like 'return.authorized'")
    delivery_id = check_id(
        _signed(body, "id", headers.get(DELIVERY_HEADER), "delivery id"), "delivery id"
    )
    if not event.startswith(RETURN_EVENT_PREFIX):
        return None
    document = body.get("data")
    if not isinstance(document, dict):
        raise WebhookPayloadError("data must be the JSON:API document of the return")
    try:
        ret = parse_return_document(document)
    except ValidationError as exc:
        raise WebhookPayloadError(f"data is not a return document ({_problems(exc)})") from None
    except _PARSE_ERRORS:
        raise WebhookPayloadError("data is not a return document") from None
    check_id(ret.id, "return id")
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
            "created_at": created_at[:64] if isinstance(created_at, str) else None,
            # Contracts §A.8.5's second dedupe key, kept for review and replays.
            "hint_key": f"{event}:{ret.id}:{updated}",
        },
    )


def rejection_excerpt(headers: Mapping[str, str], body_size: int | None) -> dict[str, Any]:
    """What a rejected delivery is remembered by: a few headers, never the signature or body.

    Values are claims: :func:`webhooks.inbox.record_rejection` cuts and escapes them.
    """
    excerpt: dict[str, Any] = {}
    for name in _SAFE_HEADERS:
        value = headers.get(name)
        if value:
            excerpt[name] = value
    excerpt["content_length"] = headers.get("content-length")
    excerpt["body_bytes"] = body_size
    return excerpt
