"""The AMS sandbox app: a faithful local emulator of MasonHub AMS v1 for RMAs and callbacks.

``create_app()`` serves one account under ``/{account}/api/v1`` with bearer auth, the
DataFactory, admin routes under ``/_admin`` and injectable faults (``/_admin/faults``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from core.settings import SANDBOX_ACCOUNT, SANDBOX_AMS_TOKEN
from sandbox.ams.delivery import Deliverer
from sandbox.ams.deps import install_error_handlers
from sandbox.ams.routes import ROUTERS
from sandbox.ams.state import AmsSandbox
from sandbox.ams.store import CallbackStore, RmaStore
from sandbox.faults import install_faults
from sandbox.requestlog import RequestLogMiddleware

_RMAS = re.compile(r"^/[^/]+/api/v1/rmas/?$")
_CALLBACKS = re.compile(r"^/[^/]+/api/v1/callbacks/?$")


def is_write(method: str, path: str) -> bool:
    """The writes commit-then-fail may lose: POST/PUT/DELETE /rmas, POST/DELETE /callbacks."""
    if method in ("POST", "PUT", "DELETE") and _RMAS.match(path):
        return True
    return method in ("POST", "DELETE") and bool(_CALLBACKS.match(path))


def create_app(
    *, api_token: str = SANDBOX_AMS_TOKEN, account: str = SANDBOX_ACCOUNT, seed: int = 0
) -> FastAPI:
    """Build a fresh sandbox (state lives in ``app.state``: ``sandbox``, ``store``, ``faults``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.sandbox.deliverer.close()

    app = FastAPI(title="MasonHub AMS sandbox", version="v1", lifespan=lifespan)
    faults = install_faults(app, is_write=is_write)
    sandbox = AmsSandbox(
        account=account,
        api_token=api_token,
        seed=seed,
        store=RmaStore(),
        callbacks=CallbackStore(),
        deliverer=Deliverer(faults),
        faults=faults,
    )
    app.state.sandbox = sandbox
    app.state.store = sandbox.store
    app.state.faults = faults
    install_error_handlers(app)

    # Added last, so outermost: requests answered by an injected fault are logged too.
    app.add_middleware(RequestLogMiddleware, log=sandbox.requests)
    for router in ROUTERS:
        app.include_router(router)
    return app
