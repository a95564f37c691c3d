"""The AMS sandbox app: a faithful local emulator of MasonHub AMS v1 for RMAs and callbacks.

``create_app()`` serves one account under ``/{account}/api/v1`` with bearer auth, the
DataFactory, admin routes under ``/_admin`` and injectable faults (``/_admin/faults``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from core.settings import SANDBOX_ACCOUNT, SANDBOX_AMS_TOKEN
from sandbox.ams.delivery import Deliverer
from sandbox.ams.deps import install_error_handlers
from sandbox.ams.routes import ROUTERS
from sandbox.ams.state import AmsSandbox
from sandbox.ams.store import CallbackStore, RmaStore
from sandbox.faults import install_faults


def create_app(
    *, api_token: str = SANDBOX_AMS_TOKEN, account: str = SANDBOX_ACCOUNT, seed: int = 0
) -> FastAPI:
    """Build a fresh sandbox (state lives in ``app.state``: ``sandbox``, ``store``, ``faults``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.sandbox.deliverer.close()

    app = FastAPI(title="MasonHub AMS sandbox", version="v1", lifespan=lifespan)
    faults = install_faults(app)
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

    @app.middleware("http")
    async def record_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Outermost, so requests answered by an injected fault are counted too.
        response = await call_next(request)
        if not request.url.path.startswith("/_admin"):
            sandbox.requests.append(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "status_code": response.status_code,
                }
            )
        return response

    for router in ROUTERS:
        app.include_router(router)
    return app
