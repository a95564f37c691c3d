"""AMS callback deliveries under faults: N copies of every message, random per-copy delays that
let callbacks overtake each other (within one RMA too), and redelivery after 5xx, timeouts and
a receiver that is not there yet."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clients.ams import AmsClient, CallbackCreate, parse_rma_event
from sandbox.ams.delivery import DeliverySettings, Outbound
from sandbox.server import ThreadedServer, free_port
from tests.integration.ams.factories import rma
from tests.integration.ams.receiver import CallbackReceiver
from tests.integration.ams.support import (
    API,
    AUTH,
    flush,
    register_rma_callbacks,
    set_faults,
    set_settings,
)

pytestmark = pytest.mark.integration

HOLD = [{"message_type": "rmaEvent"}]


def _injected(admin: httpx.Client) -> dict[str, int]:
    injected: dict[str, int] = admin.get("/_admin/faults").json()["injected"]
    return injected


def _events(receiver: CallbackReceiver) -> list[tuple[str, str]]:
    """(customer_identifier, event) per delivery, in arrival order."""
    out = []
    for call in receiver.calls:
        (msg,) = parse_rma_event(call.body)
        out.append((str(msg.customer_identifier), str(msg.event)))
    return out


def _hold(admin: httpx.Client) -> None:
    admin.post(f"{API}/callback_holds", json=HOLD, headers=AUTH).raise_for_status()


def _release(admin: httpx.Client) -> None:
    admin.request("DELETE", f"{API}/callback_holds", json=HOLD, headers=AUTH).raise_for_status()


def test_duplicate_count_delivers_every_message_n_times(
    ams: AmsClient, admin: httpx.Client, receiver: CallbackReceiver
) -> None:
    register_rma_callbacks(ams, receiver.url, versions=("2.0",))
    ams.create_rmas([rma("RLY-8001"), rma("RLY-8002")]).raise_for_failures()
    set_faults(admin, duplicate_count=3)

    ams.trigger_rma_event("RLY-8001", "tendered")
    ams.trigger_rma_event("RLY-8002", "inTransit")
    flush(admin)

    ids = Counter(c.body["message_id"] for c in receiver.calls)
    assert sorted(ids.values()) == [3, 3]
    assert _injected(admin) == {"duplicate": 4}
    deliveries = admin.get("/_admin/deliveries").json()["deliveries"]
    assert len({d["delivery_id"] for d in deliveries}) == 6, "each copy is its own delivery"


def test_duplicate_count_and_rate_add_up(
    ams: AmsClient, admin: httpx.Client, receiver: CallbackReceiver
) -> None:
    register_rma_callbacks(ams, receiver.url, versions=("2.0",))
    ams.create_rmas([rma("RLY-8003")]).raise_for_failures()
    set_faults(admin, duplicate_count=2, duplicate_rate=1.0)

    ams.trigger_rma_event("RLY-8003", "tendered")
    flush(admin)

    assert len(receiver.calls) == 3


def _delayed_run(
    ams: AmsClient, admin: httpx.Client, receiver: CallbackReceiver, seed: int
) -> list[tuple[str, str]]:
    admin.post("/_admin/reset").raise_for_status()
    receiver.clear()
    register_rma_callbacks(ams, receiver.url, versions=("2.0",))
    cids = [f"RLY-81{i:02d}" for i in range(4)]
    ams.create_rmas([rma(c) for c in cids]).raise_for_failures()
    set_faults(admin, seed=seed, delivery_delay_ms_max=150)
    _hold(admin)
    for event in ("tendered", "inTransit", "receiveFull"):
        for cid in cids:
            ams.trigger_rma_event(cid, event)  # type: ignore[arg-type]
    _release(admin)
    flush(admin)
    return _events(receiver)


def test_delivery_delay_lets_callbacks_overtake_within_an_rma(
    ams: AmsClient, admin: httpx.Client, receiver: CallbackReceiver
) -> None:
    sent = [(f"RLY-81{i:02d}", e) for e in ("tendered", "inTransit", "received") for i in range(4)]

    got = _delayed_run(ams, admin, receiver, seed=4)

    assert sorted(got) == sorted(sent), "every callback arrives once"
    assert got != sent
    overtaken = [
        cid
        for cid in {c for c, _ in got}
        if [e for c, e in got if c == cid] != ["tendered", "inTransit", "received"]
    ]
    assert overtaken, "some RMA's callbacks arrive out of order (e.g. received before tendered)"
    assert _injected(admin)["delayed"] == 12
    assert _delayed_run(ams, admin, receiver, seed=4) == got, "reproducible by seed"


def test_delivery_delay_does_not_block_the_api(
    ams: AmsClient, admin: httpx.Client, receiver: CallbackReceiver
) -> None:
    register_rma_callbacks(ams, receiver.url, versions=("2.0",))
    ams.create_rmas([rma("RLY-8201")]).raise_for_failures()
    set_faults(admin, delivery_delay_ms_max=800, seed=1)

    started = time.perf_counter()
    ams.trigger_rma_event("RLY-8201", "tendered")
    assert len(list(ams.iter_rmas())) == 1
    assert time.perf_counter() - started < 0.5
    flush(admin)
    assert len(receiver.calls) == 1


def test_redelivered_after_503s(
    ams: AmsClient, admin: httpx.Client, receiver: CallbackReceiver
) -> None:
    register_rma_callbacks(ams, receiver.url, versions=("2.0",))
    ams.create_rmas([rma("RLY-8301")]).raise_for_failures()
    set_settings(admin, retry_base_s=0.01)
    receiver.fail_next(2, status=503)

    ams.trigger_rma_event("RLY-8301", "tendered")
    flush(admin)

    assert len(receiver.calls) == 3
    assert len({c.body["message_id"] for c in receiver.calls}) == 1
    log = admin.get("/_admin/deliveries").json()["deliveries"]
    assert [(e["status_code"], e["delivered"]) for e in log] == [
        (503, False),
        (503, False),
        (200, True),
    ]
    assert _injected(admin) == {"redelivered": 2}


def test_redelivered_after_a_timeout(
    ams: AmsClient, admin: httpx.Client, receiver: CallbackReceiver
) -> None:
    register_rma_callbacks(ams, receiver.url, versions=("2.0",))
    ams.create_rmas([rma("RLY-8302")]).raise_for_failures()
    set_settings(admin, retry_base_s=0.01, timeout_s=0.2)
    receiver.stall_next(1, 0.6)

    ams.trigger_rma_event("RLY-8302", "tendered")
    flush(admin)

    log = admin.get("/_admin/deliveries").json()["deliveries"]
    assert [e.get("error") for e in log] == ["ReadTimeout", None]
    assert log[-1]["delivered"]


def _late_sink(port: int, received: list[Any]) -> ThreadedServer:
    app = FastAPI()

    @app.post("/{path:path}")
    async def sink(path: str) -> dict[str, bool]:
        received.append(path)
        return {"ok": True}

    return ThreadedServer(app, port=port)


def test_redelivered_when_the_receiver_comes_up_late(ams: AmsClient, admin: httpx.Client) -> None:
    port = free_port()
    ams.register_callbacks(
        [CallbackCreate(url=f"http://127.0.0.1:{port}/rma", message_type="rmaEvent")]
    )
    ams.create_rmas([rma("RLY-8303")]).raise_for_failures()
    set_settings(admin, retry_base_s=0.05, retry_max_s=0.2, max_attempts=20)

    ams.trigger_rma_event("RLY-8303", "tendered")
    time.sleep(0.5)  # connection refused, a few times
    received: list[Any] = []
    sink = _late_sink(port, received).start()
    try:
        flush(admin)
    finally:
        sink.stop()

    assert received == ["rma"]
    log = admin.get("/_admin/deliveries").json()["deliveries"]
    assert [e.get("error") for e in log[:-1]] == ["ConnectError"] * (len(log) - 1)
    assert len(log) >= 3 and log[-1]["delivered"]
    assert _injected(admin)["redelivered"] == len(log) - 1


def test_default_retries_ride_out_a_30s_outage() -> None:
    s = DeliverySettings()
    waits = [s.retry_delay(a) for a in range(1, s.max_attempts)]
    assert sum(waits) >= 30
    assert max(waits) <= 5


def test_thousands_of_callbacks_per_minute(ams_app: FastAPI, receiver: CallbackReceiver) -> None:
    deliverer = ams_app.state.sandbox.deliverer
    n = 600
    messages = [
        Outbound(
            f"{receiver.url}/bulk",
            "rmaEvent",
            {"message_type": "rmaEvent", "message_id": f"m-{i}", "data": []},
            None,
        )
        for i in range(n)
    ]

    started = time.perf_counter()
    deliverer.enqueue(messages)
    assert deliverer.flush(30)
    took = time.perf_counter() - started

    assert len(receiver.calls) == n
    assert n / took * 60 > 3000, f"{n / took * 60:.0f} per minute"
