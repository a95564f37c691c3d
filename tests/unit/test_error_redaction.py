"""Error bodies that echo a credential are redacted before an error (or a log) keeps them.

An API that answers "invalid token tok-..." or reflects the request headers in a 4xx/5xx
body would otherwise put the token into ``str(exc)``, ``exc.body``, the Prefect task run's
failure message and every log line that prints the error. Also its base64 and URL-encoded
forms (a Basic header, a token reflected from a query string).
"""

from __future__ import annotations

import base64
import logging
from urllib.parse import quote, quote_plus

import httpx
import pytest

from clients import errors
from clients.http import HttpSession, RetryPolicy
from clients.returnly.errors import RETURNLY_ERRORS

TOKEN = "tok-very/secret+123=="
"""Has characters that URL encoding changes, so the encoded form differs from the plain one."""


def forms(secret: str) -> list[str]:
    raw = secret.encode()
    return [
        secret,
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode(),
        quote(secret, safe=""),
        quote_plus(secret),
    ]


def echoing(status: int, *, as_json: bool):
    def handler(request: httpx.Request) -> httpx.Response:
        token = request.headers["X-Api-Token"]
        encoded = " ".join(forms(token)[1:])
        said = f"invalid token {token}; encoded: {encoded}"
        if as_json:
            body = {"message": said, "errors": [{"detail": said}], "echo": {"headers": [token]}}
            return httpx.Response(status, json=body)
        return httpx.Response(status, text=f"<html><body>{said}</body></html>")

    return handler


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "html"])
@pytest.mark.parametrize("status", [400, 401, 404, 422, 429, 500, 503])
def test_error_from_a_body_echoing_the_token_holds_no_form_of_it(
    status: int, as_json: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Fails on the code before: the token was in str(exc) and exc.body."""
    caplog.set_level(logging.DEBUG)
    session = HttpSession(
        base_url="http://127.0.0.1:9",
        auth_headers=lambda: {"X-Api-Token": TOKEN},
        family=RETURNLY_ERRORS,
        retry=RetryPolicy(max_retries=1, sleep=lambda _s: None, jitter=lambda: 0.0),
        http_client=httpx.Client(transport=httpx.MockTransport(echoing(status, as_json=as_json))),
    )
    with pytest.raises(errors.APIStatusError) as info:
        session.request("GET", "/returns.json", idempotent=True)
    logging.getLogger("test").error("call failed: %s", info.value, exc_info=info.value)

    exc = info.value
    seen = "\n".join(
        [str(exc), repr(exc), repr(exc.body), repr(getattr(exc, "messages", "")), caplog.text]
    )
    leaked = [f for f in forms(TOKEN) if f in seen]
    assert leaked == [], leaked
    assert "[REDACTED]" in str(exc.body)
