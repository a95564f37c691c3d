"""The pure checks behind the endpoints: signatures, tokens, event shapes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from tests.integration.webhooks.support import CALLBACK_TOKEN, WEBHOOK_SECRET
from webhooks import (
    WebhookAuthError,
    build_event,
    event_id,
    event_name,
    extract_ams_token,
    returnly_signature,
    verify_ams_token,
    verify_returnly_signature,
)
from webhooks.ams import scrub

NOW = 1_800_000_000
BODY = b'{"id":"d-1"}'
GOOD = returnly_signature(WEBHOOK_SECRET, str(NOW), BODY)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(f"sha256={GOOD}", id="prefixed"),
        pytest.param(GOOD, id="bare-hex"),
        pytest.param(GOOD.upper(), id="upper-hex"),
        pytest.param(f"sha256={'0' * 64}, sha256={GOOD}", id="rotation-list"),
    ],
)
def test_verify_returnly_signature_accepts(header: str) -> None:
    verify_returnly_signature(SecretStr(WEBHOOK_SECRET), str(NOW), BODY, header, NOW, 300)


@pytest.mark.parametrize(
    ("timestamp", "body", "header", "reason"),
    [
        pytest.param(
            str(NOW), BODY + b" ", f"sha256={GOOD}", "signature mismatch", id="body-changed"
        ),
        pytest.param(str(NOW + 1), BODY, f"sha256={GOOD}", "signature mismatch", id="ts-changed"),
        pytest.param(str(NOW - 301), BODY, f"sha256={GOOD}", "stale timestamp", id="stale"),
        pytest.param(str(NOW + 301), BODY, f"sha256={GOOD}", "stale timestamp", id="future"),
        pytest.param("12.5", BODY, GOOD, "missing or malformed timestamp", id="bad-ts"),
        pytest.param(None, BODY, GOOD, "missing or malformed timestamp", id="no-ts"),
        pytest.param(str(NOW), BODY, "", "missing signature", id="no-signature"),
        pytest.param(str(NOW), BODY, "sha256=é", "signature mismatch", id="non-ascii"),
    ],
)
def test_verify_returnly_signature_refuses(
    timestamp: str | None, body: bytes, header: str, reason: str
) -> None:
    with pytest.raises(WebhookAuthError) as caught:
        verify_returnly_signature(WEBHOOK_SECRET, timestamp, body, header, NOW, 300)
    assert caught.value.reason == reason and caught.value.status == 401
    assert WEBHOOK_SECRET not in str(caught.value) and GOOD not in str(caught.value)


@pytest.mark.parametrize(
    ("headers", "body", "form"),
    [
        pytest.param({"Authorization": f"Bearer {CALLBACK_TOKEN}"}, {}, "bearer", id="bearer"),
        pytest.param(
            {"authorization": f"bearer  {CALLBACK_TOKEN}"}, {}, "bearer", id="bearer-lower"
        ),
        pytest.param({"Authorization": CALLBACK_TOKEN}, {}, "raw_header", id="raw-header"),
        pytest.param({}, {"token": CALLBACK_TOKEN}, "body", id="body"),
        pytest.param({}, [{"token": CALLBACK_TOKEN}] * 2, "body", id="body-array"),
    ],
)
def test_extract_and_verify_ams_token(headers: dict[str, str], body: object, form: str) -> None:
    found = extract_ams_token(headers, body)

    assert found is not None and found.form == form
    assert CALLBACK_TOKEN not in repr(found)
    assert verify_ams_token(SecretStr(CALLBACK_TOKEN), headers, body) == form


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        pytest.param({}, {}, "missing token", id="none"),
        pytest.param({}, [{"token": CALLBACK_TOKEN}, {}], "missing token", id="array-partial"),
        pytest.param({}, {"token": ["x"]}, "missing token", id="token-not-a-string"),
        pytest.param({"Authorization": "Bearer nope"}, {}, "wrong token (bearer)", id="wrong"),
        pytest.param(
            {"Authorization": "Bearer nope"},
            {"token": CALLBACK_TOKEN},
            "wrong token (bearer)",
            id="header-wins",
        ),
    ],
)
def test_verify_ams_token_refuses(headers: dict[str, str], body: object, reason: str) -> None:
    with pytest.raises(WebhookAuthError) as caught:
        verify_ams_token(SecretStr(CALLBACK_TOKEN), headers, body)
    assert caught.value.reason == reason
    assert CALLBACK_TOKEN not in str(caught.value)


def test_scrub_removes_tokens_at_any_depth() -> None:
    item = {"id": "u", "token": "t", "details": {"Authorization": "a", "lines": [{"token": "t"}]}}

    assert scrub(item) == {"id": "u", "details": {"lines": [{}]}}


@pytest.mark.parametrize(
    ("source", "kind", "name"),
    [
        ("returnly", "return.authorized", "returnly.return.authorized"),
        ("returnly", "return.canceled_by_merchant", "returnly.return.canceled_by_merchant"),
        ("ams", "received", "ams.rma.received"),
        ("ams", "inTransit", "ams.rma.inTransit"),
    ],
)
def test_event_name(source: str, kind: str, name: str) -> None:
    assert event_name(source, kind) == name


def test_build_event_for_an_ams_message() -> None:
    occurred = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

    event = build_event("acme", "ams", "m-1:0", "received", "RLY-9", occurred)

    assert event == {
        "id": str(event_id("ams", "m-1:0")),
        "occurred": "2026-11-26T10:00:00+00:00",
        "event": "ams.rma.received",
        "resource": {"prefect.resource.id": "ams.rma.RLY-9", "merchant": "acme"},
        "payload": {
            "customer_identifier": "RLY-9",
            "message_id": "m-1:0",
            "source": "ams",
            "merchant": "acme",
        },
    }
    assert event_id("ams", "m-1:0") == event_id("ams", "m-1:0") != event_id("ams", "m-1:1")


def test_build_event_needs_a_subject() -> None:
    with pytest.raises(ValueError, match="names no return"):
        build_event("acme", "returnly", "d-1", "return.authorized", None, datetime.now(UTC))
