"""The two webhook endpoints' logic: validate, authenticate, parse, store, acknowledge.

Validate before you trust, authenticate before you parse. Order per request: merchant name
in the path (400, before any lookup), Content-Encoding/Content-Type (415), declared size
(413), the signature headers' syntax (Returnly, 401), merchant lookup (404), body read with a
running count and a deadline (413/408), authenticity (401: the HMAC over the raw bytes; the
AMS header token before the body is parsed), strict bounded JSON (400, see
:mod:`webhooks.strictjson`), shape and signed facts (400). Every refusal is recorded in the
inbox as ``rejected`` with a safe excerpt. Accepted messages are stored before the 2xx;
dispatching to Prefect runs after the answer is sent, so a slow or unavailable Prefect API
never makes the sender wait or retry (the sweeper covers failures).
"""

from __future__ import annotations

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
from ledger.inbox import SOURCE_AMS, SOURCE_RETURNLY
from webhooks import ams, returnly, strictjson
from webhooks.body import check_declared_length, check_media, read_limited
from webhooks.dispatch import Dispatcher
from webhooks.errors import (
    WebhookAuthError,
    WebhookError,
    WebhookRouteError,
    WebhookUnknownMerchantError,
)
from webhooks.grammar import check_merchant, printable
from webhooks.inbox import InboxItem, dispatch_new, record_rejection, store_items
from webhooks.verify import (
    AmsToken,
    TokenForm,
    body_ams_token,
    check_ams_token,
    check_returnly_headers,
    header_ams_token,
    verify_returnly_signature,
)

logger = logging.getLogger(__name__)


def error_response(exc: WebhookError, headers: dict[str, str] | None = None) -> JSONResponse:
    """The 4xx answer for a refused request; the connection is closed after it.

    Closing matters when the body was not read to its end (413, 408): the sender could
    otherwise keep trickling bytes into a connection nothing reads.
    """
    return JSONResponse(
        {"error": exc.reason},
        status_code=exc.status,
        headers={"connection": "close", **(headers or {})},
    )


@dataclass
class Receiver:
    """Holds what the endpoints need; one per app."""

    ledger_factory: Callable[[], Ledger]
    merchant_loader: Callable[[str], MerchantConfig]
    dispatcher: Dispatcher
    max_body_bytes: int
    signature_tolerance_s: float
    clock: Callable[[], float]
    body_timeout_s: float

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
        headers: dict[str, str] | None = None,
    ) -> JSONResponse:
        logger.warning(
            "rejected %s request for merchant %r: %s (HTTP %d)",
            source,
            printable(merchant, 64),
            exc.reason,
            exc.status,
        )
        await run_in_threadpool(
            self._record, source, merchant, exc.reason, kind, excerpt, claimed_message_id
        )
        return error_response(exc, headers)

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

    async def _read(self, request: Request) -> bytes:
        return await read_limited(request, self.max_body_bytes, self.body_timeout_s)

    async def returnly(self, merchant: str, request: Request) -> JSONResponse:
        """A Returnly webhook delivery (HMAC over ``f"{timestamp}." + body``)."""
        headers = request.headers
        size: int | None = None
        try:
            check_merchant(merchant)
            check_media(headers)
            check_declared_length(headers.get("content-length"), self.max_body_bytes)
            check_returnly_headers(
                headers.get(returnly.TIMESTAMP_HEADER), headers.get(returnly.SIGNATURE_HEADER)
            )
            config = await self._merchant(merchant)
            raw = await self._read(request)
            size = len(raw)
            verify_returnly_signature(
                config.returnly_webhook_secret,
                headers.get(returnly.TIMESTAMP_HEADER),
                raw,
                headers.get(returnly.SIGNATURE_HEADER),
                self.clock(),
                self.signature_tolerance_s,
            )
            item = returnly.parse_returnly_delivery(strictjson.loads(raw), headers)
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
                printable(headers.get(returnly.EVENT_HEADER) or "", 64),
                merchant,
            )
            return JSONResponse({"accepted": 0, "duplicates": 0, "ignored": 1})
        return await self._accept(merchant, [item], {})

    async def ams(self, merchant: str, request: Request) -> JSONResponse:
        """An AMS rmaEvent callback (token in a header or the body; object or array).

        A token in the ``Authorization`` header is checked before the body is parsed; a
        token in the body can only be found by parsing it (strictly, within the limits).
        """
        headers = request.headers
        size: int | None = None
        body: Any = None
        found: AmsToken | None = None
        try:
            check_merchant(merchant)
            check_media(headers)
            check_declared_length(headers.get("content-length"), self.max_body_bytes)
            config = await self._merchant(merchant)
            raw = await self._read(request)
            size = len(raw)
            found = header_ams_token(headers)
            if found is not None:
                form: TokenForm = check_ams_token(config.ams_callback_token, found)
                body = strictjson.loads(raw)
            else:
                body = self._parse_for_body_token(raw)
                found = body_ams_token(body)
                form = check_ams_token(config.ams_callback_token, found)
            items, ignored = ams.parse_ams_callback(body)
        except WebhookError as exc:
            return await self._reject(
                SOURCE_AMS,
                merchant,
                exc,
                kind="rmaEvent",
                excerpt=ams.rejection_excerpt(headers, body, size, found.form if found else None),
                claimed_message_id=ams.claimed_message_id(body),
            )
        logger.info("AMS callback for %s authenticated by its %s token", merchant, form)
        return await self._accept(merchant, items, {"ignored": ignored} if ignored else {})

    @staticmethod
    def _parse_for_body_token(raw: bytes) -> Any:
        """Parse a body that must carry its own token; unreadable means unauthenticated."""
        try:
            return strictjson.loads(raw)
        except WebhookError as exc:
            raise WebhookAuthError(f"missing token (body unreadable: {exc.reason})") from None

    async def refuse_route(
        self, request: Request, exc: WebhookRouteError, headers: dict[str, str] | None
    ) -> JSONResponse:
        """A request no endpoint takes (404, 405): recorded like any other refusal."""
        path = request.scope.get("path", "")
        parts = path.split("/")
        source = parts[2] if len(parts) > 2 and parts[1] == "webhooks" else "http"
        merchant = parts[3] if len(parts) > 3 and source in (SOURCE_RETURNLY, SOURCE_AMS) else ""
        excerpt = {
            "method": request.method,
            "path": path,
            "user-agent": request.headers.get("user-agent"),
            "content_length": request.headers.get("content-length"),
        }
        return await self._reject(
            source if source in (SOURCE_RETURNLY, SOURCE_AMS) else "http",
            merchant,
            exc,
            kind="route",
            excerpt=excerpt,
            claimed_message_id=None,
            headers=headers,
        )
