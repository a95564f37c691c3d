"""Tokens never show up in reprs, exception text, logs or the sandbox's delivery log."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import SecretStr

from clients.ams import (
    AmsAuthError,
    AmsClient,
    AmsEventParseError,
    AmsServerError,
    Callback,
    CallbackCreate,
    RmaEventV2,
    parse_rma_event,
)
from clients.http import RetryPolicy, secret_forms
from core.settings import SANDBOX_ACCOUNT, SANDBOX_AMS_TOKEN
from sandbox.server import ThreadedServer
from tests.integration.ams.factories import rma
from tests.integration.ams.receiver import CallbackReceiver
from tests.integration.ams.support import (
    CALLBACK_TOKEN,
    flush,
    register_rma_callbacks,
    set_faults,
    set_settings,
)

SECRET = "ams-token-9d2f-never-print-me"


def test_client_repr_hides_token(ams_server: ThreadedServer) -> None:
    client = AmsClient(base_url=ams_server.url, account="acct", api_token=SecretStr(SECRET))
    try:
        assert SECRET not in repr(client)
        assert SECRET not in str(vars(client))
    finally:
        client.close()


def test_empty_token_fails_at_construction_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="BRIDGE_AMS_API_TOKEN"):
        AmsClient(base_url="http://127.0.0.1:9", account="acct", api_token="")


def test_auth_error_text_has_no_token(ams_server: ThreadedServer) -> None:
    client = AmsClient(base_url=ams_server.url, account=SANDBOX_ACCOUNT, api_token=SECRET)
    with client, pytest.raises(AmsAuthError) as info:
        client.list_callbacks()
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value.body)


def test_retry_logs_have_no_token(
    ams_server: ThreadedServer, admin: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    set_faults(admin, fail_first_n=2)
    policy = RetryPolicy(sleep=lambda _: None)
    caplog.set_level(logging.DEBUG)
    with AmsClient(
        base_url=ams_server.url, account=SANDBOX_ACCOUNT, api_token=SANDBOX_AMS_TOKEN, retry=policy
    ) as c:
        list(c.iter_rmas())
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert SANDBOX_AMS_TOKEN not in caplog.text


def test_callback_models_hide_token() -> None:
    create = CallbackCreate(url="https://h.example.com/x", message_type="rmaEvent", token=SECRET)
    listed = Callback.model_validate(
        {"id": "c1", "url": "https://h.example.com/x", "message_type": "rmaEvent", "token": SECRET}
    )
    assert SECRET not in repr(create) and SECRET not in str(create)
    assert SECRET not in repr(listed)
    assert create.to_wire()["token"] == SECRET


def test_body_token_hidden_in_parsed_envelope_and_parse_errors() -> None:
    envelope = {"message_id": "m-1", "api_version": "2.0", "token": SECRET, "data": []}
    assert SECRET not in repr(RmaEventV2.model_validate(envelope))
    bad = {"message_id": 7, "token": SECRET, "data": [{"as_of": SECRET}]}
    with pytest.raises(AmsEventParseError) as info:
        parse_rma_event(bad)
    assert SECRET not in str(info.value)


def test_sandbox_delivery_log_redacts_token(
    ams: AmsClient, admin: httpx.Client, receiver: CallbackReceiver
) -> None:
    register_rma_callbacks(ams, receiver.url)
    set_settings(admin, token_delivery="body")
    ams.create_rmas([rma("RLY-S002")]).raise_for_failures()

    ams.trigger_rma_event("RLY-S002", "tendered")
    flush(admin)

    assert all(c.body["token"] == CALLBACK_TOKEN for c in receiver.calls)
    log = admin.get("/_admin/deliveries")
    assert CALLBACK_TOKEN not in log.text
    assert CALLBACK_TOKEN not in admin.get("/_admin/requests").text


def test_server_error_echoing_the_token_is_redacted(
    ams_server: ThreadedServer, admin: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Fails on the code before: the 5xx body quoting the bearer token (plain, base64,
    URL-encoded) was kept in ``exc.body`` and the message."""
    set_faults(admin, fail_first_n=9, error_status=502, echo_credentials=True)
    caplog.set_level(logging.DEBUG)
    policy = RetryPolicy(max_retries=1, sleep=lambda _: None)
    with (
        AmsClient(
            base_url=ams_server.url, account=SANDBOX_ACCOUNT, api_token=SECRET, retry=policy
        ) as client,
        pytest.raises(AmsServerError) as info,
    ):
        client.list_callbacks()
    logging.getLogger("tasks.test").exception("step failed: %s", info.value, exc_info=info.value)

    texts = f"{info.value} {info.value!r} {info.value.body!r} {caplog.text}"
    assert [form for form in secret_forms(SECRET) if form in texts] == []
    assert "[REDACTED]" in str(info.value.body)
