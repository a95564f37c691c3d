"""Auth, account check and the ``{message}`` error envelope shared by every AMS route."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from sandbox.ams.state import AmsSandbox, sandbox_of

API_PREFIX = "/{account}/api/v1"
MAX_BATCH = 30


class ApiError(Exception):
    """Answer ``status`` with ``{"message": ...}`` (the spec's error body)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def require_auth(
    request: Request, account: str, sandbox: Annotated[AmsSandbox, Depends(sandbox_of)]
) -> AmsSandbox:
    """Unknown account → 404; missing or wrong bearer token → 401."""
    if account != sandbox.account:
        raise ApiError(404, f"account '{account}' not found")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    expected = sandbox.api_token.encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise ApiError(401, "The access token provided is missing or invalid.")
    return sandbox


def array_body(body: Any, *, what: str = "records") -> list[Any]:
    """Every AMS write takes a JSON array of 1..30 items."""
    if not isinstance(body, list):
        raise ApiError(400, f"request body must be a JSON array of {what}")
    if not body:
        raise ApiError(400, f"request body must hold at least 1 of {what}")
    if len(body) > MAX_BATCH:
        raise ApiError(400, f"at most {MAX_BATCH} {what} per request, got {len(body)}")
    return body


def install_error_handlers(app: FastAPI) -> None:
    """Map :class:`ApiError` and body/query validation failures to ``{message}``."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"message": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return JSONResponse({"message": f"One or more parameters were bad: {where}"}, 400)


Authed = Annotated[AmsSandbox, Depends(require_auth)]
"""Route parameter type: the sandbox, after the account and token were checked."""
Admin = Annotated[AmsSandbox, Depends(sandbox_of)]
"""Route parameter type for ``/_admin`` (no auth)."""
JsonBody = Annotated[Any, Body()]
"""The raw JSON body; shape checks are the route's job so errors use ``{message}``."""
