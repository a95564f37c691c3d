"""One HTTP session per client: timeouts, bounded retries, Retry-After, error mapping.

Retries cover transport errors, 408, 429 and 5xx, and only on calls the caller marks idempotent
(GET, full-record PUT, DELETE). A write that is not safe to repeat is retried only when the
server certainly did not act on it (``retry_unsent``): the connection could not be opened, or
the answer was 429. Any other failure of such a write is ambiguous (it may have been applied
and its answer lost): the caller must read back before writing again.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import logging
import os
import random
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, quote_plus

import httpx
from pydantic import SecretStr

from clients import constants, errors

logger = logging.getLogger(__name__)

Sleep = Callable[[float], None]
READ_TIMEOUT_ENV = "BRIDGE_HTTP_READ_TIMEOUT_S"


@dataclass(frozen=True)
class ErrorFamily:
    """The concrete error classes of one system, one per kind in :mod:`clients.errors`."""

    api: type[errors.APIStatusError]
    auth: type[errors.AuthError]
    not_found: type[errors.NotFoundError]
    conflict: type[errors.ConflictError]
    validation: type[errors.ValidationError]
    rate_limited: type[errors.RateLimitedError]
    server: type[errors.ServerError]
    connection: type[errors.ConnectionFailedError]
    timeout: type[errors.RequestTimeoutError]
    response: type[errors.ResponseFormatError] = errors.ResponseFormatError


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to wait; ``sleep`` and ``jitter`` are injectable for tests."""

    max_retries: int = constants.DEFAULT_MAX_RETRIES
    backoff_base_s: float = constants.BACKOFF_BASE_S
    backoff_cap_s: float = constants.BACKOFF_CAP_S
    retry_after_cap_s: float = constants.RETRY_AFTER_CAP_S
    sleep: Sleep = time.sleep
    jitter: Callable[[], float] = random.random

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap_s)
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * float(2 ** (attempt - 1)))
        return ceiling / 2 + self.jitter() * ceiling / 2


def default_timeout() -> httpx.Timeout:
    """Explicit timeouts; httpx's default of 5 s everywhere is too short for batch writes.

    ``BRIDGE_HTTP_READ_TIMEOUT_S`` overrides the read timeout (chaos runs, slow links).
    """
    read = float(os.environ.get(READ_TIMEOUT_ENV) or constants.DEFAULT_READ_TIMEOUT_S)
    return httpx.Timeout(read, connect=constants.DEFAULT_CONNECT_TIMEOUT_S)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Read a Retry-After header given as seconds or as an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


REDACTED = "[REDACTED]"
MIN_SECRET_LEN = 6
"""Shorter values are not treated as secrets (redacting "abc" would mangle every body)."""


def secret_forms(value: str) -> set[str]:
    """A credential and the encodings an echo may show it in: base64 (padded or not, also
    URL-safe) and URL encoding."""
    raw = value.encode()
    b64 = base64.b64encode(raw).decode()
    url_b64 = base64.urlsafe_b64encode(raw).decode()
    found = {value, b64, b64.rstrip("="), url_b64, url_b64.rstrip("="), quote(value, safe="")}
    found.add(quote_plus(value))
    return {f for f in found if len(f) >= MIN_SECRET_LEN}


def header_secrets(headers: Mapping[str, str]) -> set[str]:
    """Every form of the credentials in auth headers: whole values, the part after an auth
    scheme (``Bearer x``), and the user and password inside a ``Basic`` value."""
    values: set[str] = set()
    for value in headers.values():
        values.add(value)
        scheme, _, rest = value.partition(" ")
        if rest:
            values.add(rest.strip())
        if scheme.lower() == "basic" and rest:
            try:
                decoded = base64.b64decode(rest.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                continue
            values.update({decoded, *decoded.split(":", 1)})
    return {form for v in values for form in secret_forms(v)}


def redact(value: Any, secrets: Collection[str]) -> Any:
    """``value`` (str, or JSON of dicts and lists) with every secret replaced by REDACTED."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):  # longest first: b64 contains
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    return value


def _body_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:2000]


def _message_of(body: Any) -> str:
    """Pull a readable message from the error envelopes the two APIs use."""
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            return str(body["message"])
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
        errs = body.get("errors")
        if isinstance(errs, list) and errs:
            first = errs[0]
            if isinstance(first, dict):
                return str(first.get("detail") or first.get("title") or first)
            return str(first)
    if isinstance(body, str) and body:
        return body[:300]
    return "request failed"


def _messages_of(body: Any) -> list[str]:
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        out = []
        for e in body["errors"]:
            if isinstance(e, dict):
                out.append(str(e.get("detail") or e.get("title") or e))
            else:
                out.append(str(e))
        return out
    return []


def status_error(
    family: ErrorFamily, response: httpx.Response, secrets: Collection[str] = ()
) -> errors.APIStatusError:
    """Map a non-2xx response to the system's error class.

    ``secrets`` (see :func:`header_secrets`) are redacted from the body before the error
    keeps it or builds its message from it: an API may echo the credential it refused.
    """
    body = redact(_body_of(response), secrets)
    code = response.status_code
    kw: dict[str, Any] = {
        "status_code": code,
        "body": body,
        "request_id": response.headers.get("x-request-id"),
        "method": response.request.method,
        "path": response.request.url.path,
    }
    msg = _message_of(body)
    if code in (401, 403):
        return family.auth(msg, **kw)
    if code == 404:
        return family.not_found(msg, **kw)
    if code == 409:
        return family.conflict(msg, **kw)
    if code in (400, 422):
        return family.validation(msg, messages=_messages_of(body), **kw)
    if code == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return family.rate_limited(msg, retry_after=retry_after, **kw)
    if code >= 500 or code == 408:
        return family.server(msg, **kw)
    return family.api(msg, **kw)


PARSE_FAILURES: tuple[type[Exception], ...] = (
    ValueError,  # invalid JSON, pydantic's ValidationError, over-long integers
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    RecursionError,
    OverflowError,
)
"""What reading an unexpected body raises in parsing code before it is made typed."""


def _describe_parse_failure(exc: Exception) -> str:
    errors_of = getattr(exc, "errors", None)
    count = getattr(exc, "error_count", None)
    if callable(errors_of) and callable(count):  # pydantic: name the place, not the value
        first = errors_of(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "(root)"
        return f"{count()} validation error(s), first at {where}: {first.get('msg')}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


@contextmanager
def parsing(error: type[errors.ResponseFormatError], response: httpx.Response) -> Iterator[None]:
    """Reading a 2xx body: anything unexpected becomes ``error``, never a bare exception."""
    try:
        yield
    except errors.BridgeClientError:
        raise
    except PARSE_FAILURES as exc:
        raise error(
            _describe_parse_failure(exc),
            status_code=response.status_code,
            method=response.request.method,
            path=response.request.url.path,
        ) from None


class HttpSession:
    """Owns one ``httpx.Client``; sends requests with auth headers, retries and typed errors."""

    def __init__(
        self,
        *,
        base_url: str,
        auth_headers: Callable[[], Mapping[str, str]],
        family: ErrorFamily,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | None = None,
        http_client: httpx.Client | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth_headers = auth_headers
        self._family = family
        self.retry = retry or RetryPolicy()
        self._own_client = http_client is None
        self._client = http_client or httpx.Client(timeout=timeout or default_timeout())
        self._extra_headers = dict(extra_headers or {})

    def __repr__(self) -> str:
        return f"HttpSession(base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the connection pool if this session created it."""
        if self._own_client:
            self._client.close()

    def url(self, path: str) -> str:
        """Absolute URL for a path, or the URL itself when it is already absolute."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        params: Any = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_unsent: bool = False,
    ) -> httpx.Response:
        """Send once, or retry up to the policy when ``idempotent`` and the failure is transient.

        ``retry_unsent``: for a write that is not idempotent, still retry the failures that
        prove the server did not act (no connection, 429).
        """
        attempt = 0
        all_headers = {**self._extra_headers, **self._auth_headers(), **(headers or {})}
        while True:
            try:
                response = self._client.request(
                    method, self.url(path), params=params, json=json, headers=all_headers
                )
            except httpx.TimeoutException as exc:
                failure: errors.BridgeClientError = self._family.timeout(
                    f"{method} {path}: no answer within the timeout ({type(exc).__name__})"
                )
                retry_after = None
                cause: BaseException = exc
                unsent = isinstance(exc, httpx.ConnectTimeout)
            except httpx.TransportError as exc:
                failure = self._family.connection(f"{method} {path}: {type(exc).__name__}")
                retry_after = None
                cause = exc
                unsent = isinstance(exc, httpx.ConnectError)
            else:
                if response.is_success:
                    return response
                secrets = header_secrets(self._auth_headers())  # not the other headers
                failure = status_error(self._family, response, secrets)
                retry_after = getattr(failure, "retry_after", None)
                cause = failure
                if not errors.is_retryable(failure):
                    raise failure
                unsent = response.status_code == 429
            retryable = idempotent or (retry_unsent and unsent)
            if not retryable or attempt >= self.retry.max_retries:
                raise failure from (None if cause is failure else cause)
            attempt += 1
            wait = self.retry.delay(attempt, retry_after)
            logger.warning(
                "retrying %s %s after %s (attempt %d/%d, waiting %.2fs)",
                method,
                path,
                type(failure).__name__,
                attempt,
                self.retry.max_retries,
                wait,
            )
            self.retry.sleep(wait)


class ClosingClient:
    """Context-manager plumbing for clients: ``with Client(...) as c:`` closes ``c`` on exit."""

    def close(self) -> None:
        """Release resources; subclasses close their session."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def secret_value(secret: SecretStr | str) -> SecretStr:
    """Accept a plain string at the edge but keep it wrapped from then on."""
    return secret if isinstance(secret, SecretStr) else SecretStr(secret)
