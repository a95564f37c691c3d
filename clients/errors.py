"""Error kinds shared by every client, so callers can sort failures without knowing the system.

Each system builds its own tree from these kinds, e.g.
``ReturnlyAuthError(ReturnlyAPIError, AuthError)``::

    BridgeClientError
    ├── APIStatusError(status_code, body, request_id)
    │   ├── AuthError                401 / 403
    │   ├── NotFoundError            404
    │   ├── ConflictError            409
    │   ├── ValidationError          400 / 422 (+ per-record messages)
    │   ├── RateLimitedError         429 (+ retry_after seconds)
    │   └── ServerError              5xx
    ├── TransportError
    │   ├── ConnectionFailedError    could not connect / connection dropped
    │   └── RequestTimeoutError      no answer within the timeout
    ├── ResponseFormatError          a 2xx whose body is not what the API documents
    └── RequestRejectedError         checked before sending (field limits); never reached the server

Messages never contain request headers, so a token cannot leak through ``str(exc)``.
"""

from __future__ import annotations

from typing import Any


class BridgeClientError(Exception):
    """Base of every error raised by the client layer."""


class RequestRejectedError(BridgeClientError, ValueError):
    """The request broke a documented rule and was not sent."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class TransportError(BridgeClientError):
    """The request did not get an HTTP answer."""


class ConnectionFailedError(TransportError):
    """Could not connect, or the connection dropped."""


class RequestTimeoutError(TransportError):
    """No answer within the configured timeout."""


class ResponseFormatError(BridgeClientError):
    """A 2xx answer the client cannot read: not JSON, too deep, wrong shape or types.

    The message names the first problem, never the body (it may hold customer data).
    Retrying may help (a proxy's error page, a truncated answer), so it counts as transient.
    """

    def __init__(self, message: str, *, status_code: int, method: str = "", path: str = "") -> None:
        self.status_code = status_code
        self.method = method
        self.path = path
        super().__init__(f"{method} {path} -> {status_code}: unreadable answer: {message}".strip())


class APIStatusError(BridgeClientError):
    """The server answered with a non-2xx status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any = None,
        request_id: str | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        self.status_code = status_code
        self.body = body
        self.request_id = request_id
        self.method = method
        self.path = path
        super().__init__(f"{method} {path} -> {status_code}: {message}".strip())

    @property
    def is_client_error(self) -> bool:
        """True for 4xx other than 408/429: retrying the same request cannot help."""
        return 400 <= self.status_code < 500 and self.status_code not in (408, 429)


class AuthError(APIStatusError):
    """401 or 403: the token is missing, wrong or not allowed."""


class NotFoundError(APIStatusError):
    """404."""


class ConflictError(APIStatusError):
    """409."""


class ValidationError(APIStatusError):
    """400 or 422; ``messages`` holds what the server said per field or record."""

    def __init__(self, message: str, *, messages: list[str] | None = None, **kw: Any) -> None:
        self.messages = messages or []
        super().__init__(message, **kw)


class RateLimitedError(APIStatusError):
    """429; ``retry_after`` is the server's wish in seconds, if it said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class ServerError(APIStatusError):
    """5xx (and 408): the server failed; a later retry may succeed."""


def is_retryable(exc: BaseException) -> bool:
    """Whether a whole step may be retried later (used by Prefect retry conditions)."""
    if isinstance(exc, RequestRejectedError):
        return False
    if isinstance(exc, APIStatusError):
        return not exc.is_client_error
    return isinstance(exc, TransportError | ResponseFormatError)
