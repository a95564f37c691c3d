"""The Returnly sandbox behaving like the worst real API: a refund answer lost after the money
went out, refunds without idempotency, and the request log and export that show it."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from clients.returnly import (
    RefundCreate,
    ReturnlyClient,
    ReturnlyConflictError,
    ReturnlyConnectionError,
    ReturnlyServerError,
    ReturnlyTimeoutError,
)
from core.settings import SANDBOX_RETURNLY_TOKEN
from sandbox.server import ThreadedServer

pytestmark = pytest.mark.integration

HEADERS = {"X-Api-Token": SANDBOX_RETURNLY_TOKEN}
LINES = [
    {"sku": "TEE-BLACK-M", "units": 2, "unit_price": "28.00"},
    {"sku": "SOCK-NAVY-S", "units": 1, "unit_price": "16.00"},
]


def _set(admin: httpx.Client, **config: Any) -> None:
    admin.put("/_admin/faults", json=config).raise_for_status()


def _injected(admin: httpx.Client) -> dict[str, int]:
    injected: dict[str, int] = admin.get("/_admin/faults").json()["injected"]
    return injected


def _refund(made: dict[str, Any], units: tuple[int, ...] = (2, 1)) -> RefundCreate:
    return RefundCreate(
        rma=made["rma"],
        line_items=[
            {"return_line_item_id": lid, "units": u}
            for lid, u in zip(made["line_item_ids"], units, strict=True)
        ],
    )


def _refund_body(made: dict[str, Any], units: tuple[int, ...] = (2, 1)) -> dict[str, Any]:
    items = [
        {"return_line_item_id": lid, "units": u}
        for lid, u in zip(made["line_item_ids"], units, strict=True)
    ]
    attrs = {"rma": made["rma"], "restock": False, "line_items": items}
    return {"data": {"type": "refunds", "attributes": attrs}}


def _wait_hang_over(admin: httpx.Client, n: int = 1) -> None:
    """Until the sandbox answered ``n`` hung requests (so none lands in the next test's log)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        log = admin.get("/_admin/requests").json()
        if sum(str(r.get("fault", "")).endswith("hang") for r in log) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("the hang fault never answered")


def _refund_count(admin: httpx.Client, return_id: str) -> int:
    return int(admin.get(f"/_admin/returns/{return_id}/refunds").json()["count"])


# --- commit then fail ----------------------------------------------------------------------


def test_drop_after_refund_committed_raises_and_the_money_is_out(
    client: ReturnlyClient, admin: httpx.Client, plant: Callable[..., dict[str, Any]]
) -> None:
    made = plant(lines=LINES)
    _set(admin, commit_then_fail_rate=1.0, commit_then_fail_modes=["drop"])

    with pytest.raises(ReturnlyConnectionError):
        client.create_refund(_refund(made), idempotency_key="drop-1")

    assert _refund_count(admin, made["id"]) == 1
    assert client.get_return(made["id"]).status == "refunded"
    assert _injected(admin) == {"commit_then_fail": 1, "commit_then_fail:drop": 1}


def test_drop_is_a_transport_error_for_a_plain_httpx_client(
    returnly_server: ThreadedServer, admin: httpx.Client, plant: Callable[..., dict[str, Any]]
) -> None:
    made = plant(lines=LINES)
    _set(admin, commit_then_fail_rate=1.0, commit_then_fail_modes=["drop"])

    with (
        httpx.Client(base_url=returnly_server.url, timeout=5) as plain,
        pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)),
    ):
        plain.post("/refunds.json", json=_refund_body(made), headers=HEADERS)
    assert _refund_count(admin, made["id"]) == 1


def test_500_after_refund_committed_then_key_replays(
    client: ReturnlyClient, admin: httpx.Client, plant: Callable[..., dict[str, Any]]
) -> None:
    made = plant(lines=LINES)
    _set(admin, commit_then_fail_rate=1.0, commit_then_fail_modes=["500"])

    with pytest.raises(ReturnlyServerError):
        client.create_refund(_refund(made), idempotency_key="k-500")
    assert _refund_count(admin, made["id"]) == 1

    _set(admin)  # faults off, strict idempotency: the retry with the same key replays
    again = client.create_refund(_refund(made), idempotency_key="k-500")
    assert _refund_count(admin, made["id"]) == 1
    assert again.id == admin.get(f"/_admin/returns/{made['id']}/refunds").json()["refunds"][0]["id"]


def test_hang_after_refund_committed_times_out(
    make_client: Callable[..., ReturnlyClient],
    admin: httpx.Client,
    plant: Callable[..., dict[str, Any]],
) -> None:
    made = plant(lines=LINES)
    _set(admin, commit_then_fail_rate=1.0, commit_then_fail_modes=["hang"], hang_s=0.6)
    impatient = make_client(timeout=0.2)

    with pytest.raises(ReturnlyTimeoutError):
        impatient.create_refund(_refund(made), idempotency_key="k-hang")
    assert _refund_count(admin, made["id"]) == 1
    _wait_hang_over(admin)
    (post,) = [r for r in admin.get("/_admin/requests").json() if r["method"] == "POST"]
    assert (post["status_code"], post["fault"]) == (504, "commit_then_fail:hang")


def test_commit_then_fail_spares_reads_and_other_writes(
    client: ReturnlyClient, admin: httpx.Client, plant: Callable[..., dict[str, Any]]
) -> None:
    made = plant(lines=LINES)
    _set(admin, commit_then_fail_rate=1.0, commit_then_fail_modes=["500"])

    assert client.get_return(made["id"]).id == made["id"]
    client.create_webhook("http://127.0.0.1:9/hooks", "return.authorized")
    assert _injected(admin) == {}


# --- refund idempotency --------------------------------------------------------------------


def test_strict_refuses_a_second_refund(
    client: ReturnlyClient, admin: httpx.Client, plant: Callable[..., dict[str, Any]]
) -> None:
    made = plant(lines=LINES)
    client.create_refund(_refund(made), idempotency_key="s-1")

    with pytest.raises(ReturnlyConflictError):
        client.create_refund(_refund(made), idempotency_key="s-2")
    assert _refund_count(admin, made["id"]) == 1


def test_none_accepts_every_refund_whatever_the_key(
    client: ReturnlyClient, admin: httpx.Client, plant: Callable[..., dict[str, Any]]
) -> None:
    made = plant(lines=LINES)
    _set(admin, refund_idempotency="none")

    first = client.create_refund(_refund(made), idempotency_key="same-key")
    second = client.create_refund(_refund(made), idempotency_key="same-key")
    third = client.create_refund(_refund(made, (1, 1)), idempotency_key="other-key")

    assert len({first.id, second.id, third.id}) == 3
    refunds = admin.get(f"/_admin/returns/{made['id']}/refunds").json()
    assert refunds["count"] == 3
    ret = client.get_return(made["id"])
    assert [r.id for r in ret.refunds] == [first.id, second.id, third.id]
    assert ret.refund_amount == Decimal("72.00") + Decimal("72.00") + Decimal("44.00")
    assert _injected(admin) == {"duplicate_refund": 2, "idempotency_ignored": 1}


def test_none_still_checks_units_per_request(
    client: ReturnlyClient, plant: Callable[..., dict[str, Any]], admin: httpx.Client
) -> None:
    made = plant(lines=LINES)
    _set(admin, refund_idempotency="none")
    client.create_refund(_refund(made), idempotency_key="u-1")

    over = admin.post("/refunds.json", json=_refund_body(made, (3, 1)), headers=HEADERS)

    assert over.status_code == 422
    assert _refund_count(admin, made["id"]) == 1


# --- request log and export ----------------------------------------------------------------


def test_request_log_keeps_the_idempotency_key_never_the_token(
    client: ReturnlyClient, admin: httpx.Client, plant: Callable[..., dict[str, Any]]
) -> None:
    made = plant(lines=LINES)
    client.get_return(made["id"])
    client.create_refund(_refund(made), idempotency_key="log-key-1")

    log = admin.get("/_admin/requests").json()

    assert [(r["method"], r["path"], r["status_code"]) for r in log] == [
        ("GET", f"/returns/{made['id']}.json", 200),
        ("POST", "/refunds.json", 201),
    ]
    assert log[1]["idempotency_key"] == "log-key-1"
    assert "idempotency_key" not in log[0]
    assert SANDBOX_RETURNLY_TOKEN not in str(log)


def test_request_log_pages_and_summarises(
    client: ReturnlyClient, admin: httpx.Client, plant: Callable[..., dict[str, Any]]
) -> None:
    ids = [plant()["id"] for _ in range(3)]
    _set(admin, fail_first_n=1)
    for rid in ids:
        admin.get(f"/returns/{rid}.json", headers=HEADERS)
    admin.get("/returns/424242.json", headers=HEADERS)

    page = admin.get("/_admin/requests", params={"since": 1, "limit": 2}).json()
    assert page["next"] == 3 and [r["path"] for r in page["requests"]] == [
        f"/returns/{ids[1]}.json",
        f"/returns/{ids[2]}.json",
    ]
    summary = admin.get("/_admin/requests/summary").json()
    counts = {(c["method"], c["path"], c["status_code"]): c["count"] for c in summary["counts"]}
    assert counts == {
        ("GET", "/returns/{id}.json", 200): 2,
        ("GET", "/returns/{id}.json", 503): 1,
        ("GET", "/returns/{id}.json", 404): 1,
    }
    assert admin.get("/_admin/requests").json()[0]["fault"] == "error"


def test_export_lists_returns_refunds_and_the_requests_behind_them(
    client: ReturnlyClient, admin: httpx.Client, plant: Callable[..., dict[str, Any]]
) -> None:
    made = plant(lines=LINES)
    other = plant(refunds=[{}])  # a planted refund has no request behind it
    _set(admin, refund_idempotency="none")
    r1 = client.create_refund(_refund(made), idempotency_key="exp-1")
    r2 = client.create_refund(_refund(made, (1, 1)), idempotency_key="exp-1")
    _set(admin)
    admin.post("/refunds.json", json=_refund_body(made), headers=HEADERS)  # 409 now

    export = admin.get("/_admin/export").json()

    assert export["counts"] == {"returns": 2, "refunds": 3, "refund_requests": 3}
    by_id = {r["id"]: r for r in export["returns"]}
    ret = by_id[made["id"]]
    assert ret["status"] == "refunded" and ret["rma"] == made["rma"]
    assert ret["refund_ids"] == [r1.id, r2.id]
    assert [(ln["id"], ln["units"], ln["unit_refund"]) for ln in ret["lines"]] == [
        (made["line_item_ids"][0], 2, "28.00"),
        (made["line_item_ids"][1], 1, "16.00"),
    ]
    refunds = {r["refund_id"]: r for r in export["refunds"]}
    assert refunds[r1.id]["refund_amount"] == "72.00"
    assert refunds[r2.id]["refund_amount"] == "44.00"
    assert refunds[r2.id]["request"]["idempotency_key"] == "exp-1"
    sent = refunds[r2.id]["request"]["body"]["data"]["attributes"]
    assert sent["line_items"] == _refund_body(made, (1, 1))["data"]["attributes"]["line_items"]
    assert refunds[r2.id]["request"]["status_code"] == 201
    (planted,) = [r for r in export["refunds"] if r["return_id"] == other["id"]]
    assert planted["request"] is None
    assert [r["status_code"] for r in export["refund_requests"]] == [201, 201, 409]


def test_export_of_10000_returns_is_fast(admin: httpx.Client) -> None:
    admin.post("/_admin/seed", json={"count": 10_000, "seed": 3}).raise_for_status()

    started = time.perf_counter()
    reply = admin.get("/_admin/export")
    took = time.perf_counter() - started

    reply.raise_for_status()
    assert reply.json()["counts"]["returns"] == 10_000
    assert took < 5, took
