"""The sandbox itself: seeded variety, list semantics, admin planting, auth envelope."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from clients.returnly import ReturnlyClient
from core.settings import SANDBOX_RETURNLY_TOKEN
from sandbox.catalog import CATALOG_SKUS, UNKNOWN_SKU
from sandbox.returnly.seed import generate
from sandbox.server import ThreadedServer

pytestmark = pytest.mark.integration

HEADERS = {"X-Api-Token": SANDBOX_RETURNLY_TOKEN}


@pytest.fixture
def api(returnly_server: ThreadedServer) -> Any:
    with httpx.Client(base_url=returnly_server.url, headers=HEADERS, timeout=30) as http:
        yield http


def test_seed_covers_the_awkward_cases(admin: httpx.Client, client: ReturnlyClient) -> None:
    admin.post("/_admin/seed", json={"count": 400, "seed": 11}).raise_for_status()

    returns = client.list_returns()

    assert len(returns) == 400
    statuses = {r.status for r in returns}
    assert statuses == {"authorized", "requested"}
    addresses = [r.shopper_address for r in returns if r.shopper_address]
    assert {a.country_code for a in addresses} >= {"US", "CA", "GB", "DE"}
    names = {a.name for a in addresses}
    assert {"Zoë Ångström", "José Nuñez", "李小龙"} <= names
    assert any(len(a.line1 or "") > 40 or len(a.line2 or "") > 40 for a in addresses)
    lines = [li for r in returns for li in r.line_items]
    assert any(li.sku is None for li in lines)
    assert any(li.sku == UNKNOWN_SKU for li in lines)
    assert {li.sku for li in lines} - {None, UNKNOWN_SKU} <= CATALOG_SKUS
    assert any(not r.shipping_labels for r in returns)
    assert any(len(r.shipping_labels) > 1 for r in returns)
    assert any(len({li.ext_order_id for li in r.line_items}) > 1 for r in returns)
    assert any(r.is_exchange for r in returns) and any(r.is_gift for r in returns)
    assert any(r.instant_refund_voucher for r in returns)
    groups: dict[tuple[str, Any, Any], list[int]] = {}
    for r in returns:
        for li in r.line_items:
            groups.setdefault((r.id, li.sku, li.ext_order_line_item_id), []).append(li.units)
    per_unit = [units for units in groups.values() if len(units) > 1]
    assert per_unit and all(set(units) == {1} for units in per_unit)
    assert all(r.rma.startswith("R") and len(r.rma) <= 20 and r.id.isdigit() for r in returns)
    assert all(r.updated_at >= r.created_at for r in returns)
    assert max(r.created_at for r in returns) - min(r.created_at for r in returns) > (
        datetime(2024, 1, 4, tzinfo=UTC) - datetime(2024, 1, 1, tzinfo=UTC)
    )


def test_seed_is_reproducible() -> None:
    now = datetime(2024, 6, 1, tzinfo=UTC)
    first = [s.model_dump() for s in generate(50, seed=5, now=now)]
    assert first == [s.model_dump() for s in generate(50, seed=5, now=now)]
    assert first != [s.model_dump() for s in generate(50, seed=6, now=now)]


def test_list_page_size_is_capped_and_included_deduplicated(
    admin: httpx.Client, api: httpx.Client
) -> None:
    admin.post("/_admin/seed", json={"count": 150, "seed": 2}).raise_for_status()

    doc = api.get("/returns.json", params={"page_size": 500, "include": "shipping_labels"}).json()

    assert len(doc["data"]) == 100
    assert doc["meta"] == {"total": 150, "page": 1, "page_size": 100}
    assert {i["type"] for i in doc["included"]} == {"shipping_labels"}
    keys = [(i["type"], i["id"]) for i in doc["included"]]
    assert len(keys) == len(set(keys))
    assert doc["links"]["next"].startswith("http://127.0.0.1:")
    last = api.get(doc["links"]["next"]).json()
    assert len(last["data"]) == 50 and last["links"]["next"] is None


def test_list_filters_on_server(api: httpx.Client, plant: Callable[..., dict[str, Any]]) -> None:
    a = plant(status="authorized", updated_at="2024-05-01T10:00:00Z")["id"]
    plant(status="requested", updated_at="2024-05-01T11:00:00Z")
    c = plant(status="delivered", updated_at="2024-05-01T12:00:00Z")["id"]
    plant(status="authorized", updated_at="2024-05-01T13:00:00Z")

    doc = api.get(
        "/returns.json",
        params={
            "min_updated_at": "2024-05-01T10:00:00.000000Z",
            "max_updated_at": "2024-05-01T12:00:00.000000Z",
            "status": "authorized,delivered",
        },
    ).json()

    assert [d["id"] for d in doc["data"]] == [a, c]
    assert "included" not in doc


def test_status_change_moves_return_to_end_of_list(
    admin: httpx.Client, client: ReturnlyClient, plant: Callable[..., dict[str, Any]]
) -> None:
    first = plant(updated_at="2024-05-01T10:00:00Z")["id"]
    second = plant(updated_at="2024-05-01T11:00:00Z")["id"]
    before = client.get_return(first).updated_at

    admin.post(f"/_admin/returns/{first}/status", json={"status": "cancel"}).raise_for_status()

    returns = client.list_returns()
    assert [r.id for r in returns] == [second, first]
    assert returns[-1].status == "canceled_by_merchant"
    assert returns[-1].updated_at > before


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({}, 401, id="no-token"),
        pytest.param({"X-Api-Token": "nope"}, 401, id="wrong-token"),
        pytest.param({**HEADERS, "X-Api-Version": "1999-01"}, 400, id="bad-version"),
    ],
)
def test_api_errors_use_jsonapi_envelope(
    returnly_server: ThreadedServer, headers: dict[str, str], status: int
) -> None:
    response = httpx.get(f"{returnly_server.url}/returns.json", headers=headers)

    assert response.status_code == status
    (error,) = response.json()["errors"]
    assert error["status"] == str(status) and error["detail"]


def test_plant_return_with_bad_label_index_is_refused(admin: httpx.Client) -> None:
    response = admin.post("/_admin/returns", json={"lines": [{"label_index": 0}]})
    assert response.status_code == 422
