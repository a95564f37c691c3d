"""What every Returnly sandbox route shares: token auth, JSON:API errors, fast JSON responses."""

from __future__ import annotations

import hmac
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError

from sandbox.returnly.delivery import WebhookDispatcher
from sandbox.returnly.render import error_document
from sandbox.returnly.store import ReturnlyStore

SUPPORTED_VERSIONS = frozenset({"2020-08"})
_TITLES = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict"}


class ApiError(Exception):
    """Answered as a JSON:API ``errors[]`` document with ``status``."""

    def __init__(self, status: int, detail: str, pointer: str | None = None) -> None:
        self.status = status
        self.detail = detail
        self.pointer = pointer
        super().__init__(detail)


def json_response(document: Any, status_code: int = 200) -> Response:
    """Serialize with orjson: the list endpoint is benchmarked with 10k+ returns."""
    return Response(orjson.dumps(document), status_code=status_code, media_type="application/json")


def error_response(status: int, detail: str, pointer: str | None = None) -> Response:
    """A JSON:API error answer."""
    title = _TITLES.get(status, "Unprocessable Entity" if status == 422 else "Error")
    return json_response(error_document(status, title, detail, pointer), status)


async def api_error_handler(_: Request, exc: Exception) -> Response:
    """Render :class:`ApiError`."""
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.detail, exc.pointer)


async def validation_error_handler(_: Request, exc: Exception) -> Response:
    """FastAPI's own parameter errors, in the JSON:API envelope (400)."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return error_response(400, f"{where}: {first.get('msg', 'invalid request')}")


def require_token(request: Request) -> None:
    """Check ``X-Api-Token`` in constant time, and ``X-Api-Version`` when it is sent."""
    expected: str = request.app.state.api_token
    given = request.headers.get("x-api-token", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "missing or invalid X-Api-Token")
    version = request.headers.get("x-api-version")
    if version is not None and version not in SUPPORTED_VERSIONS:
        raise ApiError(400, f"unsupported X-Api-Version {version!r}")


def store_of(request: Request) -> ReturnlyStore:
    """The app's store."""
    store: ReturnlyStore = request.app.state.store
    return store


def dispatcher_of(request: Request) -> WebhookDispatcher:
    """The app's webhook dispatcher."""
    dispatcher: WebhookDispatcher = request.app.state.delivery
    return dispatcher


async def json_body(request: Request) -> Any:
    """The request body as JSON, or a 400."""
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ApiError(400, "body is not valid JSON") from None
