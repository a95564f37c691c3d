"""The webhook receiver: one FastAPI app for Returnly webhooks and AMS rmaEvent callbacks.

``POST /webhooks/returnly/{merchant}`` and ``POST /webhooks/ams/{merchant}`` answer
``200 {"accepted": n, "duplicates": m}`` once every message is in the ledger inbox, or a
4xx ``{"error": ...}`` (400 malformed, 401 signature/token, 404 merchant or path, 405 method,
408 slow body, 413 size, 415 media type or encoding). No API docs are served.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.merchant import MerchantConfig
from ledger import Ledger
from runtime import get_ledger, load_merchant
from webhooks.dispatch import Dispatcher
from webhooks.errors import WebhookRouteError
from webhooks.limits import BODY_TIMEOUT_S, MAX_BODY_BYTES, SIGNATURE_TOLERANCE_S
from webhooks.receiver import Receiver

_ROUTE_REASONS = {404: "no such endpoint", 405: "method not allowed"}


def create_app(
    *,
    ledger_factory: Callable[[], Ledger] = get_ledger,
    merchant_loader: Callable[[str], MerchantConfig] = load_merchant,
    dispatcher: Dispatcher,
    max_body_bytes: int = MAX_BODY_BYTES,
    signature_tolerance_s: float = SIGNATURE_TOLERANCE_S,
    body_timeout_s: float = BODY_TIMEOUT_S,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """A receiver app; every collaborator is injectable so tests can use real ones locally."""
    if max_body_bytes <= 0:
        raise ValueError("max_body_bytes must be positive")
    if body_timeout_s <= 0:
        raise ValueError("body_timeout_s must be positive")
    receiver = Receiver(
        ledger_factory=ledger_factory,
        merchant_loader=merchant_loader,
        dispatcher=dispatcher,
        max_body_bytes=max_body_bytes,
        signature_tolerance_s=signature_tolerance_s,
        clock=clock,
        body_timeout_s=body_timeout_s,
    )
    app = FastAPI(
        title="Returns bridge webhooks",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,  # a 307 to another path is not an answer to a webhook
    )
    app.state.receiver = receiver

    @app.exception_handler(StarletteHTTPException)
    async def refused_route(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Unknown path or method: a recorded 4xx like any other refusal."""
        reason = _ROUTE_REASONS.get(exc.status_code, "request refused")
        headers = {k.lower(): v for k, v in (exc.headers or {}).items() if k.lower() == "allow"}
        return await receiver.refuse_route(
            request, WebhookRouteError(reason, exc.status_code), headers
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness for the demo and supervisors."""
        return {"status": "ok"}

    @app.post("/webhooks/returnly/{merchant}")
    async def returnly_webhook(merchant: str, request: Request) -> JSONResponse:
        """A Returnly webhook delivery."""
        return await receiver.returnly(merchant, request)

    @app.post("/webhooks/ams/{merchant}")
    async def ams_callback(merchant: str, request: Request) -> JSONResponse:
        """An AMS rmaEvent callback."""
        return await receiver.ams(merchant, request)

    return app
