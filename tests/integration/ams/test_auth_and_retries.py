"""Auth and transient faults against the AMS sandbox; the client's sleep is injected, never real."""

from __future__ import annotations

import httpx
import pytest

from clients.ams import (
    AmsAuthError,
    AmsClient,
    AmsNotFoundError,
    AmsServerError,
    AmsTimeoutError,
)
from clients.http import RetryPolicy
from core.settings import SANDBOX_ACCOUNT, SANDBOX_AMS_TOKEN
from sandbox.server import ThreadedServer
from tests.integration.ams.factories import rma
from tests.integration.ams.support import api_requests, set_faults

WRONG_TOKEN = "wrong-token-3b9c-do-not-print"


def test_bad_token_raises_auth_error(ams_server: ThreadedServer) -> None:
    client = AmsClient(base_url=ams_server.url, account=SANDBOX_ACCOUNT, api_token=WRONG_TOKEN)
    with client, pytest.raises(AmsAuthError) as info:
        client.get_rma_by_cid("RLY-0001")
    assert info.value.status_code == 401
    assert info.value.body == {"message": "The access token provided is missing or invalid."}
    assert WRONG_TOKEN not in str(info.value)


def test_missing_token_header_is_401(admin: httpx.Client) -> None:
    reply = admin.get(f"/{SANDBOX_ACCOUNT}/api/v1/rmas")
    assert reply.status_code == 401
    assert "message" in reply.json()


def test_unknown_account_is_404(ams_server: ThreadedServer) -> None:
    client = AmsClient(base_url=ams_server.url, account="no-such", api_token=SANDBOX_AMS_TOKEN)
    with client, pytest.raises(AmsNotFoundError):
        client.list_callbacks()


def test_get_retried_on_5xx(ams: AmsClient, admin: httpx.Client, sleeps: list[float]) -> None:
    set_faults(admin, fail_first_n=2, error_status=503)

    assert ams.get_rma_by_cid("RLY-0001") is None

    assert [r["status_code"] for r in api_requests(admin)] == [503, 503, 200]
    assert len(sleeps) == 2


def test_429_honours_retry_after(ams: AmsClient, admin: httpx.Client, sleeps: list[float]) -> None:
    set_faults(admin, rate_limit_first_n=1, retry_after_s=7)

    assert ams.list_callbacks() == []

    assert sleeps == [7.0]
    assert [r["status_code"] for r in api_requests(admin)] == [429, 200]


def test_put_and_delete_retried_on_5xx(
    ams: AmsClient, admin: httpx.Client, sleeps: list[float]
) -> None:
    ams.create_rmas([rma("RLY-0002")]).raise_for_failures()
    set_faults(admin, fail_first_n=1, error_status=502)
    ams.update_rmas([rma("RLY-0002")]).raise_for_failures()
    set_faults(admin, fail_first_n=1, error_status=500)
    ams.delete_rmas(["RLY-0002"]).raise_for_failures()

    statuses = [(r["method"], r["status_code"]) for r in api_requests(admin)]
    assert statuses == [
        ("POST", 200),
        ("PUT", 502),
        ("PUT", 200),
        ("DELETE", 500),
        ("DELETE", 200),
    ]
    assert len(sleeps) == 2


def test_post_not_retried(ams: AmsClient, admin: httpx.Client, sleeps: list[float]) -> None:
    set_faults(admin, fail_first_n=1, error_status=503)

    with pytest.raises(AmsServerError):
        ams.create_rmas([rma("RLY-0003")])

    assert [(r["method"], r["status_code"]) for r in api_requests(admin)] == [("POST", 503)]
    assert sleeps == []
    assert ams.get_rma_by_cid("RLY-0003") is None


def test_rate_limited_post_is_retried_after_retry_after(
    ams: AmsClient, admin: httpx.Client, sleeps: list[float]
) -> None:
    """A 429 proves AMS did not act on the POST, so waiting and sending it again is safe."""
    set_faults(admin, rate_limit_first_n=1, retry_after_s=3)

    result = ams.create_rmas([rma("RLY-0004")])

    assert result.by_identifier()["RLY-0004"].ok
    assert sleeps == [3.0]


def test_post_failing_after_it_may_have_applied_is_not_retried(
    ams: AmsClient, admin: httpx.Client, sleeps: list[float]
) -> None:
    """A 5xx may come after the write: the caller reads back instead of the client re-posting."""
    set_faults(admin, fail_first_n=1, error_status=503)

    with pytest.raises(AmsServerError):
        ams.create_rmas([rma("RLY-0004")])

    assert sleeps == []


def test_retries_exhausted_raises_server_error(
    ams_server: ThreadedServer, admin: httpx.Client
) -> None:
    waits: list[float] = []
    policy = RetryPolicy(max_retries=2, sleep=waits.append, jitter=lambda: 0.0)
    set_faults(admin, fail_first_n=10, error_status=503)
    with (
        AmsClient(
            base_url=ams_server.url,
            account=SANDBOX_ACCOUNT,
            api_token=SANDBOX_AMS_TOKEN,
            retry=policy,
        ) as c,
        pytest.raises(AmsServerError) as info,
    ):
        list(c.iter_rmas())

    assert info.value.status_code == 503
    assert len(api_requests(admin)) == 3
    assert waits == [0.25, 0.5]


def test_timeout_raises_timeout_error(ams_server: ThreadedServer, admin: httpx.Client) -> None:
    set_faults(admin, hang_rate=1.0, hang_s=2)
    policy = RetryPolicy(max_retries=0)
    with (
        AmsClient(
            base_url=ams_server.url,
            account=SANDBOX_ACCOUNT,
            api_token=SANDBOX_AMS_TOKEN,
            retry=policy,
            timeout=0.2,
        ) as c,
        pytest.raises(AmsTimeoutError),
    ):
        c.list_callbacks()
