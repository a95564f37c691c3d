"""Webhook subscriptions and signed, at-least-once delivery to a receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from clients.returnly import (
    RefundCreate,
    ReturnlyClient,
    ReturnlyNotFoundError,
    ReturnlyValidationError,
    parse_return_document,
)
from tests.integration.returnly.receiver import WebhookReceiver

pytestmark = pytest.mark.integration

SECRET = "whsec-test-0123456789"


def _subscribe(client: ReturnlyClient, rx: WebhookReceiver, event: str) -> str:
    rx.secret = SECRET
    return client.create_webhook(f"{rx.url}/hooks/returnly", event, SECRET).id


def _status(admin: httpx.Client, return_id: str, status: str) -> None:
    admin.post(f"/_admin/returns/{return_id}/status", json={"status": status}).raise_for_status()


def _flush(admin: httpx.Client) -> None:
    admin.post("/_admin/deliveries/flush", json={"timeout_s": 10}).raise_for_status()


def _attempts(admin: httpx.Client) -> list[dict[str, Any]]:
    attempts: list[dict[str, Any]] = admin.get("/_admin/deliveries").json()["attempts"]
    return attempts


def test_status_change_delivers_signed_webhook(
    client: ReturnlyClient,
    admin: httpx.Client,
    receiver: WebhookReceiver,
    plant: Callable[..., dict[str, Any]],
) -> None:
    made = plant(status="requested", labels=[{}])
    _subscribe(client, receiver, "return.authorized")

    _status(admin, made["id"], "authorize")
    _flush(admin)

    (delivery,) = receiver.deliveries
    assert delivery.verified
    body = delivery.body
    assert body["event"] == "return.authorized"
    assert delivery.headers["x-returnly-event"] == "return.authorized"
    assert delivery.headers["x-returnly-delivery"] == body["id"]
    assert delivery.headers["x-returnly-signature"].startswith("sha256=")
    ret = parse_return_document(body["data"])
    assert ret.id == made["id"] and ret.status == "authorized"
    assert ret.tracking_numbers == made["tracking_numbers"]
    assert [li.id for li in ret.line_items] == made["line_item_ids"]


def test_webhook_only_for_subscribed_event(
    client: ReturnlyClient,
    admin: httpx.Client,
    receiver: WebhookReceiver,
    plant: Callable[..., dict[str, Any]],
) -> None:
    made = plant()
    _subscribe(client, receiver, "return.delivered")

    _status(admin, made["id"], "in_transit")
    _status(admin, made["id"], "cancel")
    _flush(admin)

    assert receiver.deliveries == []


def test_wildcard_subscription_gets_every_status_change(
    client: ReturnlyClient,
    admin: httpx.Client,
    receiver: WebhookReceiver,
    plant: Callable[..., dict[str, Any]],
) -> None:
    made = plant()
    _subscribe(client, receiver, "*")

    for status in ("in_transit", "delivered"):
        _status(admin, made["id"], status)
    client.create_refund(
        RefundCreate(
            rma=made["rma"],
            line_items=[{"return_line_item_id": made["line_item_ids"][0], "units": 1}],
        ),
        idempotency_key="wh-refund",
    )
    _flush(admin)

    events = [d.body["event"] for d in receiver.accepted()]
    assert events == ["return.in_transit", "return.delivered", "return.refunded"]
    refunded = parse_return_document(receiver.accepted()[-1].body["data"])
    assert len(refunded.refunds) == 1


def test_failed_delivery_is_retried_with_the_same_id(
    client: ReturnlyClient,
    admin: httpx.Client,
    receiver: WebhookReceiver,
    plant: Callable[..., dict[str, Any]],
) -> None:
    made = plant()
    _subscribe(client, receiver, "return.delivered")
    receiver.fail_next(2)

    _status(admin, made["id"], "delivered")
    _flush(admin)

    ids = {d.body["id"] for d in receiver.deliveries}
    assert len(receiver.deliveries) == 3 and len(ids) == 1
    assert [a["status_code"] for a in _attempts(admin)] == [500, 500, 204]


def test_wrong_secret_fails_verification_and_is_retried(
    client: ReturnlyClient,
    admin: httpx.Client,
    receiver: WebhookReceiver,
    plant: Callable[..., dict[str, Any]],
) -> None:
    made = plant()
    client.create_webhook(f"{receiver.url}/hooks", "return.delivered", "not-the-receivers")
    receiver.secret = SECRET

    _status(admin, made["id"], "delivered")
    _flush(admin)

    assert receiver.accepted() == []
    assert [a["status_code"] for a in _attempts(admin)] == [401, 401, 401]


def test_duplicate_fault_delivers_the_same_message_twice(
    client: ReturnlyClient,
    admin: httpx.Client,
    receiver: WebhookReceiver,
    plant: Callable[..., dict[str, Any]],
) -> None:
    made = plant()
    _subscribe(client, receiver, "return.delivered")
    admin.put("/_admin/faults", json={"duplicate_rate": 1.0}).raise_for_status()

    _status(admin, made["id"], "delivered")
    _flush(admin)

    first, second = receiver.accepted()
    assert first.body == second.body
    assert first.headers["x-returnly-delivery"] == second.headers["x-returnly-delivery"]


def test_reorder_fault_shuffles_a_held_batch(
    client: ReturnlyClient,
    admin: httpx.Client,
    receiver: WebhookReceiver,
    plant: Callable[..., dict[str, Any]],
) -> None:
    ids = [plant()["id"] for _ in range(6)]
    _subscribe(client, receiver, "return.in_transit")
    admin.put("/_admin/faults", json={"reorder": True, "seed": 1}).raise_for_status()
    admin.post("/_admin/deliveries/hold", json={"hold": True}).raise_for_status()

    for rid in ids:
        _status(admin, rid, "in_transit")
    assert admin.get("/_admin/deliveries").json()["pending"] == 6
    assert receiver.deliveries == []
    _flush(admin)

    got = [d.body["data"]["data"]["id"] for d in receiver.accepted()]
    assert sorted(got) == sorted(ids)
    assert got != ids


def test_list_and_delete_webhooks(client: ReturnlyClient, receiver: WebhookReceiver) -> None:
    made = client.create_webhook(f"{receiver.url}/a", "return.authorized")
    client.create_webhook(f"{receiver.url}/b", "return.refunded", "given-secret")

    assert made.secret is not None and len(made.secret.get_secret_value()) >= 32
    listed = client.list_webhooks()
    assert [(w.url.rsplit("/", 1)[-1], w.event) for w in listed] == [
        ("a", "return.authorized"),
        ("b", "return.refunded"),
    ]
    assert all(w.secret is None for w in listed)

    client.delete_webhook(made.id)

    assert [w.event for w in client.list_webhooks()] == ["return.refunded"]
    with pytest.raises(ReturnlyNotFoundError):
        client.delete_webhook(made.id)


@pytest.mark.parametrize(
    ("url", "event"),
    [
        pytest.param("ftp://x/y", "return.authorized", id="bad-scheme"),
        pytest.param("http://127.0.0.1/x", "authorized", id="bad-event"),
    ],
)
def test_create_webhook_invalid_is_refused(client: ReturnlyClient, url: str, event: str) -> None:
    with pytest.raises(ReturnlyValidationError):
        client.create_webhook(url, event)
