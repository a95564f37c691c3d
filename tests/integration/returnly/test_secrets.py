"""The API token and webhook secrets never show in reprs, exception text or logs."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from clients.http import RetryPolicy, secret_forms
from clients.returnly import ReturnlyClient, ReturnlyError
from sandbox.server import ThreadedServer

pytestmark = pytest.mark.integration

TOKEN = "tok-SUPER-SECRET-4242"
HOOK_SECRET = "whsec-SUPER-SECRET-9999"


def _texts(exc: BaseException) -> str:
    return " ".join(
        [str(exc), repr(exc), "".join(traceback.format_exception(exc)), repr(vars(exc))]
    )


def test_repr_of_client_hides_token(returnly_server: ThreadedServer) -> None:
    with ReturnlyClient(base_url=returnly_server.url, api_token=TOKEN) as client:
        assert TOKEN not in repr(client)
        assert TOKEN not in str(vars(client))
        assert returnly_server.url in repr(client)


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param({}, id="auth-error"),
        pytest.param({"fail_first_n": 9, "error_status": 500}, id="server-error"),
        pytest.param({"rate_limit_first_n": 9, "retry_after_s": 1}, id="rate-limited"),
        pytest.param(
            {"fail_first_n": 9, "error_status": 503, "echo_credentials": True},
            id="server-error-echoing-the-token",
        ),
    ],
)
def test_errors_and_logs_hide_token(
    returnly_server: ThreadedServer,
    admin: httpx.Client,
    caplog: pytest.LogCaptureFixture,
    faults: dict[str, Any],
) -> None:
    admin.put("/_admin/faults", json=faults).raise_for_status()
    caplog.set_level(logging.DEBUG)
    client = ReturnlyClient(
        base_url=returnly_server.url,
        api_token=TOKEN,
        retry=RetryPolicy(max_retries=2, sleep=lambda _: None),
    )

    with client, pytest.raises(ReturnlyError) as info:
        client.list_returns()

    texts = f"{_texts(info.value)} {caplog.text} {[r.args for r in caplog.records]}"
    assert [form for form in secret_forms(TOKEN) if form in texts] == []


def test_timeout_error_hides_token(
    returnly_server: ThreadedServer, admin: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    admin.put("/_admin/faults", json={"hang_rate": 1.0, "hang_s": 1.0}).raise_for_status()
    caplog.set_level(logging.DEBUG)
    client = ReturnlyClient(
        base_url=returnly_server.url,
        api_token=TOKEN,
        timeout=0.2,
        retry=RetryPolicy(max_retries=0),
    )
    with client, pytest.raises(ReturnlyError) as info:
        client.get_return("1")
    assert TOKEN not in _texts(info.value)
    assert TOKEN not in caplog.text


def test_webhook_secret_hidden_in_models_and_delivery_log(
    client: ReturnlyClient,
    admin: httpx.Client,
    plant: Callable[..., dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    made = plant()
    sub = client.create_webhook("http://127.0.0.1:9/unreachable", "*", HOOK_SECRET)
    admin.post(f"/_admin/returns/{made['id']}/status", json={"status": "delivered"})
    admin.post("/_admin/deliveries/flush").raise_for_status()

    assert sub.secret is not None and sub.secret.get_secret_value() == HOOK_SECRET
    assert HOOK_SECRET not in repr(sub) and HOOK_SECRET not in str(sub)
    assert HOOK_SECRET not in admin.get("/_admin/deliveries").text
    assert HOOK_SECRET not in caplog.text


def test_delivery_log_drops_query_token_of_receiver_url(
    client: ReturnlyClient,
    admin: httpx.Client,
    plant: Callable[..., dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    made = plant()
    client.create_webhook("http://127.0.0.1:9/hooks?token=QUERY-TOKEN-7", "*")
    admin.post(f"/_admin/returns/{made['id']}/status", json={"status": "delivered"})
    admin.post("/_admin/deliveries/flush").raise_for_status()

    log = admin.get("/_admin/deliveries").json()["attempts"]
    assert log and all(a["url"] == "http://127.0.0.1:9/hooks" for a in log)
    assert "QUERY-TOKEN-7" not in caplog.text
