"""RMA reads against the AMS sandbox: ids in chunks, paging, created-date window, summaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from clients.ams import AmsClient, AmsRequestRejectedError
from tests.integration.ams.factories import rma
from tests.integration.ams.support import API, AUTH, api_requests, plant

JAN = datetime(2024, 1, 1, tzinfo=UTC)


def _planted(
    n: int, *, start: datetime = JAN, step: timedelta = timedelta(hours=1)
) -> list[dict[str, Any]]:
    return [
        {
            "customer_identifier": f"PL-{i:05d}",
            "created_at": (start + i * step).isoformat(),
            "updated_at": (start + i * step + timedelta(days=90)).isoformat(),
            "line_items": [{"customer_sku_id": "SOCK-OLIVE-M", "quantity": 1}],
        }
        for i in range(n)
    ]


def test_get_rmas_by_id_in_chunks_of_30(ams: AmsClient, admin: httpx.Client) -> None:
    ams.create_rmas([rma(f"RLY-{i:04d}") for i in range(70)]).raise_for_failures()
    ids = [r.id for r in ams.iter_rmas()]
    before = len(api_requests(admin))

    found = ams.get_rmas_by_id([*ids, "00000000-0000-4000-8000-000000000000"])

    assert sorted(r.id for r in found) == sorted(ids)
    gets = api_requests(admin)[before:]
    assert [g["method"] for g in gets] == ["GET"] * 3


def test_get_rmas_by_id_accepts_repeated_id_params(ams: AmsClient, admin: httpx.Client) -> None:
    ams.create_rmas([rma("RLY-0001"), rma("RLY-0002")]).raise_for_failures()
    ids = [r.id for r in ams.iter_rmas()]

    reply = admin.get(f"{API}/rmas", params=[("id", ids[0]), ("id", ids[1])], headers=AUTH)

    assert sorted(r["id"] for r in reply.json()["data"]) == sorted(ids)


def test_iter_rmas_pages_through_everything(ams: AmsClient, admin: httpx.Client) -> None:
    plant(admin, *_planted(250))

    seen = list(ams.iter_rmas(page_size=100))

    assert [r.customer_identifier for r in seen] == [f"PL-{i:05d}" for i in range(250)]
    assert len(api_requests(admin)) == 3


def test_iter_rmas_exact_multiple_ends_on_empty_page(ams: AmsClient, admin: httpx.Client) -> None:
    plant(admin, *_planted(40))

    assert len(list(ams.iter_rmas(page_size=20))) == 40
    assert len(api_requests(admin)) == 3


def test_iter_rmas_window_filters_on_created_date(ams: AmsClient, admin: httpx.Client) -> None:
    plant(admin, *_planted(90, step=timedelta(days=1)))
    frm, to = JAN + timedelta(days=31), JAN + timedelta(days=59)

    window = list(ams.iter_rmas(created_from=frm, created_to=to))

    created = [r.created_at for r in window]
    assert len(window) == 29
    assert all(c is not None and frm <= c <= to for c in created)


def test_iter_rmas_status_filter(ams: AmsClient, admin: httpx.Client) -> None:
    records = _planted(10)
    for i, rec in enumerate(records):
        rec["status"] = "received" if i % 2 else "open"
    plant(admin, *records)

    received = list(ams.iter_rmas(status="received"))

    assert {r.status for r in received} == {"received"}
    assert len(received) == 5


def test_iter_rmas_summary_items(ams: AmsClient) -> None:
    ams.create_rmas([rma("RLY-0101")]).raise_for_failures()

    (item,) = list(ams.iter_rmas(list_type="summary"))

    assert item.status == "open"
    assert item.package_id and item.line_items == []
    assert item.model_extra is not None
    assert item.model_extra["number_units"] == 1


def test_iter_rmas_rejects_naive_datetime_before_sending(
    ams: AmsClient, admin: httpx.Client
) -> None:
    with pytest.raises(AmsRequestRejectedError, match="created_from"):
        next(ams.iter_rmas(created_from=datetime(2024, 1, 1)))
    assert api_requests(admin) == []


def test_get_rma_by_cid_missing_returns_none(ams: AmsClient) -> None:
    assert ams.get_rma_by_cid("RLY-NOPE") is None


def test_warehouse_created_rma_without_identifier_is_listed(
    ams: AmsClient, admin: httpx.Client
) -> None:
    plant(
        admin,
        {
            "customer_identifier": None,
            "return_type": "rma_created_by_distribution_center",
            "status": "received",
            "received_at": "2024-05-01T10:00:00Z",
            "line_items": [
                {
                    "customer_sku_id": "JKT-NAVY-L",
                    "quantity": 1,
                    "quantity_received": 1,
                    "receiving_details": {"damaged": [{"notes": "Torn", "quantity": 1}]},
                }
            ],
        },
    )

    (found,) = list(ams.iter_rmas(status="received"))

    assert found.customer_identifier is None
    assert found.return_type == "rma_created_by_distribution_center"
    assert found.line_items[0].received_by_status() == {"damaged": 1}


def test_sandbox_rejects_bad_search_parameters(admin: httpx.Client) -> None:
    for params in ({"limit": 101}, {"limit": 0}, {"list_type": "full"}, {"sdt": "yesterday"}):
        reply = admin.get(f"{API}/rmas", params=params, headers=AUTH)
        assert reply.status_code == 400, params
        assert "message" in reply.json()


@pytest.mark.slow
def test_sandbox_handles_50k_rmas(ams: AmsClient, admin: httpx.Client) -> None:
    seeded = admin.post(
        "/_admin/rmas", params={"echo": "false"}, json=_planted(50_000, step=timedelta(minutes=1))
    )
    assert seeded.json()["count"] == 50_000

    last_page = admin.get(
        f"{API}/rmas", params={"offset": 49_950, "limit": 100}, headers=AUTH, timeout=10
    ).json()["data"]
    one = ams.get_rma_by_cid("PL-31337")

    assert [r["customer_identifier"] for r in last_page][-1] == "PL-49999"
    assert len(last_page) == 50
    assert one is not None
    window = JAN + timedelta(minutes=100), JAN + timedelta(minutes=299)
    assert len(list(ams.iter_rmas(created_from=window[0], created_to=window[1]))) == 200
