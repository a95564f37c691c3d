"""Listing and reading returns: pagination by links.next, included resolution, filters, errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from clients.returnly import (
    ReturnlyAuthError,
    ReturnlyClient,
    ReturnlyError,
    ReturnlyNotFoundError,
    ReturnlyValidationError,
)

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _query(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(urlsplit(str(request.url)).query)


def test_list_returns_follows_links_next_across_pages(
    admin: httpx.Client, make_client: Callable[..., ReturnlyClient], sent: list[httpx.Request]
) -> None:
    admin.post("/_admin/seed", json={"count": 57, "seed": 3}).raise_for_status()
    client = make_client(page_size=20)

    returns = client.list_returns()

    assert len(returns) == 57
    assert len({r.id for r in returns}) == 57
    assert len(sent) == 3
    pages = [_query(r) for r in sent]
    assert pages[0]["page"] == ["1"] and pages[0]["page_size"] == ["20"]
    assert [p["page"] for p in pages[1:]] == [["2"], ["3"]]
    keys = [(r.updated_at, int(r.id)) for r in returns]
    assert keys == sorted(keys)


def test_list_returns_uses_next_link_verbatim(
    admin: httpx.Client, client: ReturnlyClient, sent: list[httpx.Request]
) -> None:
    admin.post("/_admin/seed", json={"count": 30, "seed": 1}).raise_for_status()
    http = httpx.Client(headers={"X-Api-Token": "sandbox-returnly-token"})
    first = http.get(f"{client.base_url}/returns.json", params={"page": 1})
    http.close()
    expected_next = first.json()["links"]["next"]

    client.list_returns(include=())

    assert str(sent[1].url) == expected_next


def test_list_returns_resolves_included_records(
    client: ReturnlyClient, plant: Callable[..., dict[str, Any]]
) -> None:
    made = plant(
        lines=[
            {"sku": "TEE-BLACK-M", "units": 2, "unit_price": "28.00", "label_index": 1},
            {"sku": "CAP-NAVY-S", "units": 1, "unit_price": "32.00", "unit_tax": "2.56"},
        ],
        labels=[{"carrier": "UPS"}, {"carrier": "USPS", "tracking_number": "9400TEST0001"}],
        voucher={"credit_issued_amount": "25.00"},
        repurchases=[{"total_order_amount": "40.00"}],
    )
    plant()  # another return, whose records must not leak onto the first

    ret = next(r for r in client.list_returns() if r.id == made["id"])

    assert [li.id for li in ret.line_items] == made["line_item_ids"]
    assert [li.sku for li in ret.line_items] == ["TEE-BLACK-M", "CAP-NAVY-S"]
    assert ret.line_items[0].units == 2
    assert ret.line_items[0].total_refund_amount == Decimal("56.00")
    assert ret.line_items[1].total_refund_amount == Decimal("34.56")
    assert ret.line_items[0].shipping_label_id == ret.shipping_labels[1].id
    assert ret.tracking_numbers == made["tracking_numbers"]
    assert ret.tracking_numbers[1] == "9400TEST0001"
    assert ret.instant_refund_voucher is not None
    assert ret.instant_refund_voucher.credit_issued_amount == Decimal("25.00")
    assert len(ret.repurchases) == 1 and len(ret.invoice_items) == 1
    assert ret.refunds == []
    assert ret.estimated_refund_amount == Decimal("90.56")
    assert ret.created_at.tzinfo is not None


def test_list_returns_without_include_leaves_relationships_empty(
    client: ReturnlyClient, plant: Callable[..., dict[str, Any]], sent: list[httpx.Request]
) -> None:
    plant(labels=[{}])

    (ret,) = client.list_returns(include=())

    assert "include" not in _query(sent[0])
    assert ret.line_items == [] and ret.shipping_labels == []
    assert ret.instant_refund_voucher is None


def test_list_returns_filters_status_on_client(
    client: ReturnlyClient, plant: Callable[..., dict[str, Any]], sent: list[httpx.Request]
) -> None:
    keep = plant(status="authorized")["id"]
    plant(status="requested")
    plant(status="mystery_new_status")

    got = client.list_returns(statuses={"authorized"})

    assert [r.id for r in got] == [keep]
    assert "status" not in _query(sent[0])


def test_list_returns_sends_status_filter_when_enabled(
    make_client: Callable[..., ReturnlyClient],
    plant: Callable[..., dict[str, Any]],
    sent: list[httpx.Request],
) -> None:
    keep = plant(status="delivered", updated_at=T0.isoformat())["id"]
    plant(status="authorized", updated_at=T0.isoformat())
    plant(status="delivered", updated_at=(T0 + timedelta(days=1)).isoformat())
    client = make_client(send_status_filter=True)

    got = client.list_returns(statuses={"delivered"}, updated_before=T0 + timedelta(hours=1))

    assert [r.id for r in got] == [keep]
    query = _query(sent[0])
    assert query["status"] == ["delivered"]
    assert query["max_updated_at"] == ["2024-05-01T13:00:00.000000Z"]


def test_list_returns_applies_updated_before_without_server_filter(
    client: ReturnlyClient, plant: Callable[..., dict[str, Any]], sent: list[httpx.Request]
) -> None:
    keep = plant(updated_at=T0.isoformat())["id"]
    plant(updated_at=(T0 + timedelta(hours=2)).isoformat())

    got = client.list_returns(updated_before=T0 + timedelta(hours=1))

    assert [r.id for r in got] == [keep]
    assert "max_updated_at" not in _query(sent[0])


def test_list_returns_since_watermark_is_inclusive_and_formatted(
    client: ReturnlyClient, plant: Callable[..., dict[str, Any]], sent: list[httpx.Request]
) -> None:
    plant(updated_at=(T0 - timedelta(microseconds=1)).isoformat())
    at = plant(updated_at=T0.isoformat())["id"]
    after = plant(updated_at=(T0 + timedelta(seconds=1)).isoformat())["id"]
    paris = T0.astimezone(ZoneInfo("Europe/Paris"))

    got = client.list_returns(updated_since=paris)

    assert [r.id for r in got] == [at, after]
    assert _query(sent[0])["min_updated_at"] == ["2024-05-01T12:00:00.000000Z"]


def test_list_returns_rejects_naive_watermark(client: ReturnlyClient) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        client.list_returns(updated_since=datetime(2024, 1, 1))


def test_list_returns_keeps_unknown_status_and_fields(
    client: ReturnlyClient, plant: Callable[..., dict[str, Any]]
) -> None:
    plant(status="awaiting_inspection")

    (ret,) = client.list_returns()

    assert ret.status == "awaiting_inspection"
    assert not ret.is_actionable


def test_get_return_by_id(client: ReturnlyClient, plant: Callable[..., dict[str, Any]]) -> None:
    made = plant(
        address={
            "name": "Zoë Ångström",
            "line1": "Apartment 1204, The Grand Residences at Riverside Park North",
            "city": "Toronto",
            "state": "ON",
            "postal_code": "M5H 3T4",
            "country_code": "CA",
        },
        is_gift=True,
    )

    ret = client.get_return(made["id"])

    assert ret.id == made["id"] and ret.rma == made["rma"]
    assert ret.shopper_address is not None
    assert ret.shopper_address.name == "Zoë Ångström"
    assert ret.shopper_address.country_code == "CA"
    assert ret.is_gift is True and ret.is_exchange is False
    assert len(ret.line_items) == 1


def test_get_return_not_found(client: ReturnlyClient) -> None:
    with pytest.raises(ReturnlyNotFoundError) as info:
        client.get_return("999999999")
    assert info.value.status_code == 404
    assert "not found" in str(info.value)


@pytest.mark.parametrize("bad", [pytest.param("", id="empty"), pytest.param("  ", id="blank")])
def test_get_return_empty_id_is_refused_before_sending(
    client: ReturnlyClient, sent: list[httpx.Request], bad: str
) -> None:
    with pytest.raises(ValueError):
        client.get_return(bad)
    assert sent == []


def test_list_returns_bad_token(make_client: Callable[..., ReturnlyClient]) -> None:
    client = make_client(api_token="not-the-token")

    with pytest.raises(ReturnlyAuthError) as info:
        client.list_returns()
    assert info.value.status_code == 401


def test_list_returns_unknown_include_is_a_validation_error(
    client: ReturnlyClient, sleeps: list[float]
) -> None:
    with pytest.raises(ReturnlyValidationError):
        client.list_returns(include=("bogus",))
    assert sleeps == []


def _mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> ReturnlyClient:
    return ReturnlyClient(
        base_url="http://returnly.test",
        api_token="t",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


def test_list_returns_refuses_next_link_to_another_origin() -> None:
    # The sandbox never does this; a mock is the only way to produce it.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [], "links": {"next": "https://evil.test/x"}})

    with pytest.raises(ReturnlyError, match="another origin"):
        _mock_client(handler).list_returns()


def test_list_returns_refuses_a_next_link_loop() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"data": [], "links": {"next": "http://returnly.test/returns.json?page=2"}}
        )

    with pytest.raises(ReturnlyError, match="repeats"):
        _mock_client(handler).list_returns()


def test_list_returns_accepts_single_strings_for_collections(
    client: ReturnlyClient, plant: Callable[..., dict[str, Any]]
) -> None:
    keep = plant(status="authorized", labels=[{}])["id"]
    plant(status="requested")

    (ret,) = client.list_returns(statuses="authorized", include="shipping_labels")

    assert ret.id == keep and len(ret.shipping_labels) == 1 and ret.line_items == []
