"""Returnly webhook deliveries under faults: N copies of every message, random per-copy delays
that let webhooks overtake each other (within one return too), and redelivery after 5xx, and
after a receiver that is not there yet, without holding up the other messages."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from clients.returnly import ReturnlyClient
from sandbox.returnly.delivery import DeliveryConfig
from sandbox.server import ThreadedServer, free_port
from tests.integration.returnly.receiver import WebhookReceiver

pytestmark = pytest.mark.integration

SECRET = "whsec-delivery-faults-0123"


def _subscribe(client: ReturnlyClient, rx: WebhookReceiver, event: str = "*") -> None:
    rx.secret = SECRET
    client.create_webhook(f"{rx.url}/hooks/returnly", event, SECRET)


def _status(admin: httpx.Client, return_id: str, status: str) -> None:
    admin.post(f"/_admin/returns/{return_id}/status", json={"status": status}).raise_for_status()


def _flush(admin: httpx.Client) -> None:
    admin.post("/_admin/deliveries/flush", json={"timeout_s": 10}).raise_for_status()


def _hold(admin: httpx.Client) -> None:
    admin.post("/_admin/deliveries/hold", json={"hold": True}).raise_for_status()


def _injected(admin: httpx.Client) -> dict[str, int]:
    injected: dict[str, int] = admin.get("/_admin/faults").json()["injected"]
    return injected


def _events(rx: WebhookReceiver) -> list[tuple[str, str]]:
    return [(d.body["data"]["data"]["id"], d.body["event"]) for d in rx.accepted()]


def test_duplicate_count_delivers_every_message_n_times(
    client: ReturnlyClient,
    admin: httpx.Client,
    receiver: WebhookReceiver,
    plant: Callable[..., dict[str, Any]],
) -> None:
    ids = [plant()["id"] for _ in range(2)]
    _subscribe(client, receiver, "return.in_transit")
    admin.put("/_admin/faults", json={"duplicate_count": 3}).raise_for_status()

    for rid in ids:
        _status(admin, rid, "in_transit")
    _flush(admin)

    per_message = Counter(d.headers["x-returnly-delivery"] for d in receiver.accepted())
    assert sorted(per_message.values()) == [3, 3]
    assert _injected(admin) == {"duplicate": 4}


def _delayed_run(
    client: ReturnlyClient,
    admin: httpx.Client,
    receiver: WebhookReceiver,
    plant: Callable[..., dict[str, Any]],
    seed: int,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    admin.post("/_admin/reset").raise_for_status()
    admin.put(
        "/_admin/deliveries/config", json={"max_attempts": 3, "backoff_s": 0.01, "timeout_s": 2}
    ).raise_for_status()
    receiver.clear()
    ids = [plant(status="requested")["id"] for _ in range(4)]
    _subscribe(client, receiver)
    admin.put(
        "/_admin/faults", json={"seed": seed, "delivery_delay_ms_max": 150}
    ).raise_for_status()
    _hold(admin)
    sent = []
    for rid in ids:
        for status, event in (("authorize", "authorized"), ("cancel", "canceled_by_merchant")):
            _status(admin, rid, status)
            sent.append((rid, f"return.{event}"))
    _flush(admin)
    return sent, _events(receiver)


def test_delivery_delay_lets_a_cancel_overtake_its_authorization(
    client: ReturnlyClient,
    admin: httpx.Client,
    receiver: WebhookReceiver,
    plant: Callable[..., dict[str, Any]],
) -> None:
    sent, got = _delayed_run(client, admin, receiver, plant, seed=3)

    assert sorted(got) == sorted(sent)
    assert got != sent
    late_authorizations = [
        rid
        for rid in {r for r, _ in got}
        if next(e for r, e in got if r == rid) == "return.canceled_by_merchant"
    ]
    assert late_authorizations, "some return.authorized arrives after its canceled_by_merchant"
    assert _injected(admin)["delayed"] == 8
    assert _delayed_run(client, admin, receiver, plant, seed=3) == (sent, got), "same seed"


def test_redelivered_after_503s(
    client: ReturnlyClient,
    admin: httpx.Client,
    receiver: WebhookReceiver,
    plant: Callable[..., dict[str, Any]],
) -> None:
    made = plant()
    _subscribe(client, receiver, "return.delivered")
    receiver.fail_next(2, status=503)

    _status(admin, made["id"], "delivered")
    _flush(admin)

    attempts = admin.get("/_admin/deliveries").json()["attempts"]
    assert [a["status_code"] for a in attempts] == [503, 503, 204]
    assert len({d.headers["x-returnly-delivery"] for d in receiver.deliveries}) == 1
    assert _injected(admin) == {"redelivered": 2}


def test_a_retry_does_not_hold_up_the_next_message(
    client: ReturnlyClient,
    admin: httpx.Client,
    receiver: WebhookReceiver,
    plant: Callable[..., dict[str, Any]],
) -> None:
    first, second = plant(), plant()
    _subscribe(client, receiver, "return.delivered")
    admin.put(
        "/_admin/deliveries/config", json={"max_attempts": 3, "backoff_s": 0.3, "timeout_s": 2}
    ).raise_for_status()
    receiver.fail_next(1, status=503)

    _status(admin, first["id"], "delivered")
    _status(admin, second["id"], "delivered")
    _flush(admin)

    # first (answered 503), second, then first's retry: the retry waited, the queue did not.
    assert [rid for rid, _ in _events(receiver)] == [first["id"], second["id"], first["id"]]
    attempts = admin.get("/_admin/deliveries").json()["attempts"]
    assert [a["status_code"] for a in attempts] == [503, 204, 204]


class _LateSink:
    """A signature-blind receiver started only when the test says so."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[str] = []
        app = FastAPI()

        @app.post("/{path:path}")
        async def sink(request: Request) -> Response:
            self.received.append(request.headers["x-returnly-delivery"])
            return Response(status_code=204)

        self.server = ThreadedServer(app, port=self.port)


def test_redelivered_when_the_receiver_comes_up_late(
    client: ReturnlyClient, admin: httpx.Client, plant: Callable[..., dict[str, Any]]
) -> None:
    sink = _LateSink()
    client.create_webhook(f"http://127.0.0.1:{sink.port}/hooks", "return.delivered", SECRET)
    admin.put(
        "/_admin/deliveries/config",
        json={"max_attempts": 20, "backoff_s": 0.05, "max_backoff_s": 0.2, "timeout_s": 2},
    ).raise_for_status()
    made = plant()

    _status(admin, made["id"], "delivered")
    time.sleep(0.5)  # connection refused, a few times
    sink.server.start()
    try:
        _flush(admin)
    finally:
        sink.server.stop()

    assert len(sink.received) == 1
    attempts = admin.get("/_admin/deliveries").json()["attempts"]
    assert [a["error"] for a in attempts[:-1]] == ["ConnectError"] * (len(attempts) - 1)
    assert len(attempts) >= 3 and attempts[-1]["status_code"] == 204


def test_default_retries_ride_out_a_30s_outage() -> None:
    cfg = DeliveryConfig()
    waits = [cfg.retry_delay(a) for a in range(1, cfg.max_attempts)]
    assert sum(waits) >= 30
    assert max(waits) <= 5


def test_thousands_of_webhooks_per_minute(
    client: ReturnlyClient,
    admin: httpx.Client,
    receiver: WebhookReceiver,
    returnly_app: FastAPI,
) -> None:
    n = 600
    admin.post("/_admin/seed", json={"count": n, "seed": 1}).raise_for_status()
    _subscribe(client, receiver, "return.lost_in_space")
    _hold(admin)
    store = returnly_app.state.store
    for rec in store.all_records():
        store.set_status(rec.id, "lost_in_space")

    started = time.perf_counter()
    _flush(admin)
    took = time.perf_counter() - started

    assert len(receiver.accepted()) == n
    assert n / took * 60 > 3000, f"{n / took * 60:.0f} per minute"
