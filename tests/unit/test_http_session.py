"""The shared HTTP session: which failures are retried, how long it waits, what it raises.

A MockTransport is used here because only a fake can count exact attempts cheaply; the same
behaviour is exercised against the real sandboxes in tests/integration.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from pydantic import SecretStr

from clients import errors
from clients.http import HttpSession, RetryPolicy, parse_retry_after
from clients.returnly.errors import (
    RETURNLY_ERRORS,
    ReturnlyAuthError,
    ReturnlyConnectionError,
    ReturnlyRateLimitedError,
    ReturnlyServerError,
    ReturnlyTimeoutError,
    ReturnlyValidationError,
)

TOKEN = "tok-very-secret-123"


def make_session(handler, sleeps: list[float], max_retries: int = 3) -> HttpSession:
    """A session on a fake transport that records the waits instead of sleeping."""
    secret = SecretStr(TOKEN)
    return HttpSession(
        base_url="http://127.0.0.1:9",
        auth_headers=lambda: {"X-Api-Token": secret.get_secret_value()},
        family=RETURNLY_ERRORS,
        retry=RetryPolicy(max_retries=max_retries, sleep=sleeps.append, jitter=lambda: 0.5),
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


def scripted(*responses: httpx.Response | Exception):
    """A handler answering with each response in turn and counting calls."""
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        item = responses[min(len(calls) - 1, len(responses) - 1)]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, calls


def test_retry_on_5xx_then_success() -> None:
    handler, calls = scripted(httpx.Response(503), httpx.Response(502), httpx.Response(200))
    sleeps: list[float] = []
    response = make_session(handler, sleeps).request("GET", "/x", idempotent=True)
    assert response.status_code == 200
    assert len(calls) == 3
    assert len(sleeps) == 2
    assert sleeps[1] > sleeps[0]


def test_retry_on_429_honours_retry_after() -> None:
    limited = httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow down"})
    handler, calls = scripted(limited, httpx.Response(200))
    sleeps: list[float] = []
    make_session(handler, sleeps).request("GET", "/x", idempotent=True)
    assert sleeps == [7.0]
    assert len(calls) == 2


def test_retry_gives_up_after_max_retries() -> None:
    handler, calls = scripted(httpx.Response(500, json={"message": "boom"}))
    sleeps: list[float] = []
    with pytest.raises(ReturnlyServerError) as info:
        make_session(handler, sleeps, max_retries=2).request("GET", "/x", idempotent=True)
    assert len(calls) == 3
    assert info.value.status_code == 500
    assert "boom" in str(info.value)


def test_rate_limited_error_carries_retry_after_when_exhausted() -> None:
    handler, _ = scripted(httpx.Response(429, headers={"Retry-After": "3"}))
    with pytest.raises(ReturnlyRateLimitedError) as info:
        make_session(handler, [], max_retries=0).request("GET", "/x", idempotent=True)
    assert info.value.retry_after == 3.0
    assert errors.is_retryable(info.value)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        pytest.param(400, ReturnlyValidationError, id="400-validation"),
        pytest.param(422, ReturnlyValidationError, id="422-validation"),
        pytest.param(401, ReturnlyAuthError, id="401-auth"),
    ],
)
def test_no_retry_on_client_errors(status: int, error: type[Exception]) -> None:
    body = {"errors": [{"detail": "units must be positive"}]}
    handler, calls = scripted(httpx.Response(status, json=body))
    sleeps: list[float] = []
    with pytest.raises(error) as info:
        make_session(handler, sleeps).request("POST", "/x", idempotent=True)
    assert len(calls) == 1
    assert sleeps == []
    assert not errors.is_retryable(info.value)


def test_validation_error_lists_messages() -> None:
    body = {"errors": [{"detail": "units must be positive"}, {"title": "bad rma"}]}
    handler, _ = scripted(httpx.Response(422, json=body))
    with pytest.raises(ReturnlyValidationError) as info:
        make_session(handler, []).request("POST", "/x", idempotent=False)
    assert info.value.messages == ["units must be positive", "bad rma"]


def test_non_idempotent_call_not_retried() -> None:
    handler, calls = scripted(httpx.Response(503), httpx.Response(200))
    with pytest.raises(ReturnlyServerError):
        make_session(handler, []).request("POST", "/x", idempotent=False)
    assert len(calls) == 1


def test_transport_errors_map_and_retry() -> None:
    handler, calls = scripted(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"))
    sleeps: list[float] = []
    with pytest.raises(ReturnlyTimeoutError):
        make_session(handler, sleeps, max_retries=1).request("GET", "/x", idempotent=True)
    assert len(calls) == 2
    handler, _ = scripted(httpx.ConnectError("refused"))
    with pytest.raises(ReturnlyConnectionError):
        make_session(handler, [], max_retries=0).request("GET", "/x", idempotent=True)


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(backoff_base_s=1.0, backoff_cap_s=4.0, jitter=lambda: 1.0)
    assert [policy.delay(n, None) for n in (1, 2, 3, 4, 5)] == [1.0, 2.0, 4.0, 4.0, 4.0]
    low = RetryPolicy(backoff_base_s=1.0, backoff_cap_s=4.0, jitter=lambda: 0.0)
    assert low.delay(3, None) == 2.0
    assert policy.delay(1, 500.0) == policy.retry_after_cap_s


def test_parse_retry_after_seconds_and_date() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(30.0)


def test_token_absent_from_repr_errors_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    handler, _ = scripted(httpx.Response(503, json={"message": "down"}))
    session = make_session(handler, [], max_retries=1)
    with caplog.at_level(logging.DEBUG), pytest.raises(ReturnlyServerError) as info:
        session.request("GET", "/x", idempotent=True)
    assert TOKEN not in repr(session)
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)
    assert TOKEN not in caplog.text
    assert "retrying GET /x" in caplog.text
