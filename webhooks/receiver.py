"""The two webhook endpoints' logic: check size, merchant and sender, store, acknowledge.

Order per request: declared size (413), merchant (404), body read with a running count
(413), authenticity (401), shape (400). Every refusal is recorded in the inbox as
``rejected`` with a safe excerpt. Accepted messages are stored before the 2xx; dispatching
to Prefect runs after the answer is sent, so a slow or unavailable Prefect API never makes
the sender wait or retry (the sweeper covers failures).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from core.merchant import MerchantConfig
from ledger import Ledger
from tasks.inbox import SOURCE_AMS, SOURCE_RETURNLY
from webhooks import ams, returnly
from webhooks.body import check_declared_length, read_limited
from webhooks.dispatch import Dispatcher
from webhooks.errors import WebhookError, WebhookPayloadError, WebhookUnknownMerchantError
from webhooks.inbox import InboxItem, dispatch_new, record_rejection, store_items
from webhooks.verify import (
    TokenForm,
    extract_ams_token,
    verify_ams_token,
    verify_returnly_signature,
)

logger = logging.getLogger(__name__)

_NOT_JSON = object()


def error_response(exc: WebhookError) -> JSONResponse:
    """The 4xx answer for a refused request."""
    return JSONResponse({"error": exc.reason}, status_code=exc.status)


def _json_or_marker(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _NOT_JSON


@dataclass
class Receiver:
    """Holds what the endpoints need; one per app."""

    ledger_factory: Callable[[], Ledger]
    merchant_loader: Callable[[str], MerchantConfig]
    dispatcher: Dispatcher
    max_body_bytes: int
    signature_tolerance_s: float
    clock: Callable[[], float]

    async def _merchant(self, name: str) -> MerchantConfig:
        try:
            return await run_in_threadpool(self.merchant_loader, name)
        except LookupError:
            raise WebhookUnknownMerchantError("unknown merchant") from None

    async def _reject(
        self,
        source: str,
        merchant: str,
        exc: WebhookError,
        *,
        kind: str | None,
        excerpt: dict[str, Any],
        claimed_message_id: str | None,
    ) -> JSONResponse:
        logger.warning(
            "rejected %s request for merchant %r: %s (HTTP %d)",
            source,
            merchant[:64],
            exc.reason,
            exc.status,
        )
        await run_in_threadpool(
            self._record, source, merchant, exc.reason, kind, excerpt, claimed_message_id
        )
        return error_response(exc)

    def _record(
        self,
        source: str,
        merchant: str,
        reason: str,
        kind: str | None,
        excerpt: dict[str, Any],
        claimed_message_id: str | None,
    ) -> None:
        """Record a rejection; if the ledger is down, log it and still send the 4xx."""
        try:
            record_rejection(
                self.ledger_factory(),
                source,
                merchant,
                reason,
                kind=kind,
                excerpt=excerpt,
                claimed_message_id=claimed_message_id,
            )
        except Exception as exc:
            logger.error("could not record rejected %s request: %s", source, type(exc).__name__)

    async def _accept(
        self, merchant: str, items: list[InboxItem], extra: dict[str, int]
    ) -> JSONResponse:
        try:
            ledger = self.ledger_factory()
            result = await run_in_threadpool(store_items, ledger, merchant, items)
        except Exception as exc:
            # Not acknowledged, so the sender retries: nothing is lost.
            logger.error("inbox write failed for %s: %s", merchant, type(exc).__name__)
            return JSONResponse({"error": "inbox unavailable"}, status_code=503)
        for item in result.new:
            logger.info(
                "stored %s %s %s for %s (%s)",
                item.source,
                item.kind,
                item.subject_id,
                merchant,
                item.message_id,
            )
        task = (
            BackgroundTask(dispatch_new, ledger, self.dispatcher, merchant, result.new)
            if result.new
            else None
        )
        content = {"accepted": result.accepted, "duplicates": result.duplicates, **extra}
        return JSONResponse(content, status_code=200, background=task)

    async def returnly(self, merchant: str, request: Request) -> JSONResponse:
        """A Returnly webhook delivery (HMAC over ``f"{timestamp}." + body``)."""
        headers = request.headers
        size: int | None = None
        try:
            check_declared_length(headers.get("content-length"), self.max_body_bytes)
            config = await self._merchant(merchant)
            raw = await read_limited(request, self.max_body_bytes)
            size = len(raw)
            verify_returnly_signature(
                config.returnly_webhook_secret,
                headers.get(returnly.TIMESTAMP_HEADER),
                raw,
                headers.get(returnly.SIGNATURE_HEADER),
                self.clock(),
                self.signature_tolerance_s,
            )
            item = returnly.parse_returnly_delivery(raw, headers)
        except WebhookError as exc:
            return await self._reject(
                SOURCE_RETURNLY,
                merchant,
                exc,
                kind=headers.get(returnly.EVENT_HEADER),
                excerpt=returnly.rejection_excerpt(headers, size),
                claimed_message_id=headers.get(returnly.DELIVERY_HEADER),
            )
        if item is None:
            logger.info(
                "Returnly event %s for %s is not about a return: ignored",
                headers.get(returnly.EVENT_HEADER),
                merchant,
            )
            return JSONResponse({"accepted": 0, "duplicates": 0, "ignored": 1})
        return await self._accept(merchant, [item], {})

    async def ams(self, merchant: str, request: Request) -> JSONResponse:
        """An AMS rmaEvent callback (token in a header or the body; object or array)."""
        headers = request.headers
        size: int | None = None
        body: Any = None
        form: TokenForm | None = None
        try:
            check_declared_length(headers.get("content-length"), self.max_body_bytes)
            config = await self._merchant(merchant)
            raw = await read_limited(request, self.max_body_bytes)
            size = len(raw)
            body = _json_or_marker(raw)
            # Authenticate first, so an unauthenticated sender learns nothing about its body.
            form = verify_ams_token(config.ams_callback_token, headers, body)
            if body is _NOT_JSON:
                raise WebhookPayloadError("body is not valid JSON")
            items, ignored = ams.parse_ams_callback(body)
        except WebhookError as exc:
            parsed = None if body is _NOT_JSON else body
            found = extract_ams_token(headers, parsed)
            return await self._reject(
                SOURCE_AMS,
                merchant,
                exc,
                kind="rmaEvent",
                excerpt=ams.rejection_excerpt(headers, parsed, size, found.form if found else None),
                claimed_message_id=ams.claimed_message_id(parsed),
            )
        logger.info("AMS callback for %s authenticated by its %s token", merchant, form)
        return await self._accept(merchant, items, {"ignored": ignored} if ignored else {})
