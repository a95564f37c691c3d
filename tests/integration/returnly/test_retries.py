"""Transient faults: bounded retries with backoff, Retry-After honoured, 4xx never retried."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from clients.http import RetryPolicy
from clients.returnly import (
    RefundCreate,
    ReturnlyAuthError,
    ReturnlyClient,
    ReturnlyConnectionError,
    ReturnlyRateLimitedError,
    ReturnlyServerError,
    ReturnlyTimeoutError,
)
from core.settings import SANDBOX_RETURNLY_TOKEN
from sandbox.faults import FaultState
from sandbox.server import ThreadedServer, free_port

pytestmark = pytest.mark.integration


def _faults(admin: httpx.Client, **config: Any) -> None:
    admin.put("/_admin/faults", json=config).raise_for_status()


def test_list_returns_retries_server_errors(
    client: ReturnlyClient,
    admin: httpx.Client,
    plant: Callable[..., dict[str, Any]],
    faults: FaultState,
    sent: list[httpx.Request],
    sleeps: list[float],
) -> None:
    plant()
    _faults(admin, fail_first_n=2, error_status=503)

    assert len(client.list_returns()) == 1

    assert faults.injected == {"error": 2}
    assert len(sent) == 3
    assert sleeps == [0.25, 0.5]  # exponential backoff, jitter pinned to 0


def test_list_returns_gives_up_after_max_retries(
    client: ReturnlyClient, admin: httpx.Client, sent: list[httpx.Request], sleeps: list[float]
) -> None:
    _faults(admin, fail_first_n=10, error_status=502)

    with pytest.raises(ReturnlyServerError) as info:
        client.list_returns()

    assert info.value.status_code == 502
    assert len(sent) == 4 and len(sleeps) == 3


def test_list_returns_honours_retry_after(
    client: ReturnlyClient,
    admin: httpx.Client,
    plant: Callable[..., dict[str, Any]],
    sleeps: list[float],
) -> None:
    plant()
    _faults(admin, rate_limit_first_n=2, retry_after_s=7)

    assert len(client.list_returns()) == 1

    assert sleeps == [7.0, 7.0]


def test_rate_limit_exhausted_carries_retry_after(
    make_client: Callable[..., ReturnlyClient], admin: httpx.Client, sleeps: list[float]
) -> None:
    client = make_client(retry=RetryPolicy(max_retries=1, sleep=sleeps.append))
    _faults(admin, rate_limit_first_n=5, retry_after_s=3)

    with pytest.raises(ReturnlyRateLimitedError) as info:
        client.list_returns()

    assert info.value.retry_after == 3.0
    assert sleeps == [3.0]


def test_bad_token_is_not_retried(
    make_client: Callable[..., ReturnlyClient], sent: list[httpx.Request], sleeps: list[float]
) -> None:
    client = make_client(api_token="wrong")

    with pytest.raises(ReturnlyAuthError):
        client.list_returns()

    assert len(sent) == 1 and sleeps == []


def test_hang_past_timeout_raises_timeout_error(
    make_client: Callable[..., ReturnlyClient],
    admin: httpx.Client,
    sent: list[httpx.Request],
    sleeps: list[float],
) -> None:
    client = make_client(timeout=0.3, retry=RetryPolicy(max_retries=1, sleep=sleeps.append))
    _faults(admin, hang_rate=1.0, hang_s=1.0)

    with pytest.raises(ReturnlyTimeoutError):
        client.get_return("100001")

    assert len(sent) == 2 and len(sleeps) == 1


def test_unreachable_server_raises_connection_error(sleeps: list[float]) -> None:
    client = ReturnlyClient(
        base_url=f"http://127.0.0.1:{free_port()}",
        api_token=SANDBOX_RETURNLY_TOKEN,
        retry=RetryPolicy(max_retries=2, sleep=sleeps.append),
    )
    with client, pytest.raises(ReturnlyConnectionError):
        client.list_returns()
    assert len(sleeps) == 2


def _one_unit(made: dict[str, Any]) -> RefundCreate:
    return RefundCreate(
        rma=made["rma"],
        line_items=[{"return_line_item_id": made["line_item_ids"][0], "units": 1}],
    )


def test_create_refund_is_not_blindly_retried_after_a_server_error(
    client: ReturnlyClient,
    admin: httpx.Client,
    plant: Callable[..., dict[str, Any]],
    sent: list[httpx.Request],
) -> None:
    """A 5xx may come after the refund was made: the client must not post it again."""
    made = plant()
    _faults(admin, fail_first_n=1, error_status=503, path_contains="/refunds")

    with pytest.raises(ReturnlyServerError):
        client.create_refund(_one_unit(made), idempotency_key="rf-retry")

    assert len(sent) == 1


def test_create_refund_retries_a_429_with_the_same_idempotency_key(
    client: ReturnlyClient,
    admin: httpx.Client,
    plant: Callable[..., dict[str, Any]],
    sent: list[httpx.Request],
) -> None:
    """A 429 proves the request was not acted on, so it is safe to send again."""
    made = plant()
    _faults(admin, rate_limit_first_n=1, retry_after_s=0, path_contains="/refunds")

    refund = client.create_refund(_one_unit(made), idempotency_key="rf-retry")

    assert [r.headers["Idempotency-Key"] for r in sent] == ["rf-retry", "rf-retry"]
    assert sent[0].content == sent[1].content
    count = admin.get(f"/_admin/returns/{made['id']}/refunds").json()["count"]
    assert count == 1 and refund.return_id == made["id"]


class _LoseFirstAnswer(httpx.HTTPTransport):
    """Delivers the first request to the real sandbox, then drops its answer.

    The sandbox cannot lose a response after doing the work, so this wraps the real transport.
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.calls += 1
        if self.calls == 1:
            response.read()
            raise httpx.ReadTimeout("answer lost", request=request)
        return response


def test_create_refund_answer_lost_is_raised_not_replayed(
    returnly_server: ThreadedServer,
    admin: httpx.Client,
    plant: Callable[..., dict[str, Any]],
    sleeps: list[float],
) -> None:
    """The refund was made and its answer lost: one POST, a timeout, the caller reads back."""
    made = plant()
    transport = _LoseFirstAnswer()
    with httpx.Client(transport=transport) as http:
        client = ReturnlyClient(
            base_url=returnly_server.url,
            api_token=SANDBOX_RETURNLY_TOKEN,
            retry=RetryPolicy(sleep=sleeps.append),
            http_client=http,
        )
        with pytest.raises(ReturnlyTimeoutError):
            client.create_refund(_one_unit(made), idempotency_key="rf-lost")

    assert transport.calls == 1 and sleeps == []
    refunds = admin.get(f"/_admin/returns/{made['id']}/refunds").json()
    assert refunds["count"] == 1
