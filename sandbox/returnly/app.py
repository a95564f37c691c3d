"""The Returnly sandbox app: JSON:API returns, refunds, webhooks, admin and faults.

``create_app()`` builds a fresh, independent app (its own store, faults and delivery thread);
``app.state.store``, ``app.state.faults``, ``app.state.delivery`` and ``app.state.requests``
(the API request log) are there for in-process tests. Run it standalone with
``uvicorn --factory sandbox.returnly.app:create_app``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.types import Scope

from core.settings import SANDBOX_RETURNLY_TOKEN
from sandbox.faults import install_faults
from sandbox.requestlog import RequestLog, RequestLogMiddleware, header
from sandbox.returnly.delivery import WebhookDispatcher
from sandbox.returnly.routes import ROUTERS
from sandbox.returnly.routes.common import ApiError, api_error_handler, validation_error_handler
from sandbox.returnly.seed import generate
from sandbox.returnly.store import ReturnlyStore

REFUND_PATH = "/refunds.json"


def is_write(method: str, path: str) -> bool:
    """The write commit-then-fail may lose: the refund POST."""
    return method == "POST" and path == REFUND_PATH


def refund_key(scope: Scope) -> dict[str, Any] | None:
    """The request log keeps the refund POST's Idempotency-Key (never the token)."""
    if scope["method"] == "POST" and scope["path"] == REFUND_PATH:
        return {"idempotency_key": header(scope, b"idempotency-key")}
    return None


def create_app(
    *, api_token: str = SANDBOX_RETURNLY_TOKEN, seed_count: int = 0, seed: int = 0
) -> FastAPI:
    """A new sandbox app, optionally pre-seeded with ``seed_count`` generated returns."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.delivery.close()

    app = FastAPI(title="Returnly sandbox", version="2020-08", lifespan=lifespan)
    store = ReturnlyStore()
    if seed_count:
        store.add_returns(generate(seed_count, seed))
    faults = install_faults(app, is_write=is_write)
    requests = RequestLog()
    app.state.api_token = api_token
    app.state.store = store
    app.state.faults = faults
    app.state.requests = requests
    app.state.delivery = WebhookDispatcher(store, faults)
    # Added last, so outermost: requests answered by an injected fault are logged too.
    app.add_middleware(RequestLogMiddleware, log=requests, extra=refund_key)
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    for router in ROUTERS:
        app.include_router(router)
    return app
