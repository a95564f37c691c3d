"""Turn a verified AMS rmaEvent callback into inbox items (contracts §B.6, §B.7).

One item per normalised message (an envelope may carry several data items, a body may be
an array of envelopes). The envelope's ``token`` is never stored: items keep their own data
with every ``token`` key removed, plus the fields the processing step reads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from clients.ams import AmsEventParseError, parse_rma_event
from ledger.inbox import SOURCE_AMS
from webhooks.errors import WebhookPayloadError
from webhooks.grammar import AMS_EVENT, check_id
from webhooks.inbox import InboxItem
from webhooks.limits import MAX_AMS_ENVELOPES, MAX_AMS_ITEMS
from webhooks.verify import TokenForm

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "rmaEvent"
MAX_EXCERPT_ENVELOPES = 5
_PARSE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError)
_SECRET_KEYS = frozenset({"token", "authorization"})


def scrub(value: Any) -> Any:
    """A copy of ``value`` without any ``token``/``authorization`` key, at any depth."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if str(k).lower() not in _SECRET_KEYS}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def _envelopes(body: Any) -> list[dict[str, Any]]:
    envelopes = body if isinstance(body, list) else [body]
    if not envelopes:
        raise WebhookPayloadError("empty array: no rmaEvent envelope")
    if len(envelopes) > MAX_AMS_ENVELOPES:
        raise WebhookPayloadError(
            f"{len(envelopes)} envelopes: at most {MAX_AMS_ENVELOPES} per callback"
        )
    items = 0
    for n, envelope in enumerate(envelopes):
        if not isinstance(envelope, dict):
            raise WebhookPayloadError(f"[{n}]: an envelope object was expected")
        message_type = envelope.get("message_type")
        if message_type not in (None, MESSAGE_TYPE):
            raise WebhookPayloadError(f"[{n}]: message_type must be {MESSAGE_TYPE!r}")
        data = envelope.get("data")
        if data is not None and not isinstance(data, list):
            raise WebhookPayloadError(f"[{n}]: data must be an array")
        items += len(data or [])
    if items > MAX_AMS_ITEMS:
        raise WebhookPayloadError(f"{items} data items: at most {MAX_AMS_ITEMS} per callback")
    return envelopes


def parse_ams_callback(body: Any) -> tuple[list[InboxItem], int]:
    """The inbox items of a callback body, and how many items were ignored.

    Items with no ``customer_identifier`` are ignored: the bridge names every RMA it creates,
    so such an RMA was made by the warehouse and has no Returnly return to drive.
    """
    envelopes = _envelopes(body)
    try:
        messages = parse_rma_event(envelopes)
    except AmsEventParseError as exc:
        raise WebhookPayloadError(str(exc)) from None
    except _PARSE_ERRORS:
        raise WebhookPayloadError("body is not an rmaEvent") from None
    raw_items: dict[tuple[str, int], Any] = {}
    for envelope in envelopes:
        for i, item in enumerate(envelope.get("data") or []):
            raw_items[(str(envelope.get("message_id")), i)] = item
    items: list[InboxItem] = []
    ignored = 0
    for m in messages:
        check_id(m.message_id, "message_id")
        check_id(m.dedupe_key, "message_id")
        if not m.customer_identifier:
            ignored += 1
            logger.info(
                "rmaEvent %s item %d has no customer_identifier: ignored", m.message_id, m.index
            )
            continue
        check_id(m.customer_identifier, f"item {m.index} customer_identifier")
        kind = m.event or "unknown"
        if not AMS_EVENT.fullmatch(kind):
            raise WebhookPayloadError(f"item {m.index}: event name {kind[:40]!r} is not a name")
        items.append(
            InboxItem(
                source=SOURCE_AMS,
                message_id=m.dedupe_key,
                kind=kind,
                subject_id=m.customer_identifier,
                payload={
                    "rma_id": m.rma_id,
                    "event": m.event,
                    "api_version": m.api_version,
                    "as_of": m.as_of.isoformat() if m.as_of else None,
                    "message_id": m.message_id,
                    "index": m.index,
                    "item": scrub(raw_items.get((m.message_id, m.index))),
                },
            )
        )
    return items, ignored


def rejection_excerpt(
    headers: Mapping[str, str], body: Any, body_size: int | None, token_form: TokenForm | None
) -> dict[str, Any]:
    """What a rejected callback is remembered by: ids and counts, never a token or the body."""
    excerpt: dict[str, Any] = {
        "user-agent": (headers.get("user-agent") or "")[:200] or None,
        "content_length": headers.get("content-length"),
        "body_bytes": body_size,
        "token_form": token_form,
    }
    envelopes = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
    summary: list[dict[str, Any]] = []
    for envelope in envelopes[:MAX_EXCERPT_ENVELOPES]:
        if not isinstance(envelope, dict):
            continue
        entry: dict[str, Any] = {
            key: str(envelope[key])[:100] if envelope.get(key) is not None else None
            for key in ("message_type", "message_id", "api_version")
        }
        data = envelope.get("data")
        entry["items"] = len(data) if isinstance(data, list) else None
        summary.append(entry)
    excerpt["envelopes"] = summary
    return excerpt


def claimed_message_id(body: Any) -> str | None:
    """The first envelope's message id, if the body has one (untrusted)."""
    first = body[0] if isinstance(body, list) and body else body
    value = first.get("message_id") if isinstance(first, dict) else None
    return str(value) if value is not None else None
