"""The AMS sandbox's admin side: catalog, settings validation, planting rules, reset."""

from __future__ import annotations

import httpx

from clients.ams import AmsClient
from sandbox.catalog import CATALOG_SKUS
from tests.integration.ams.factories import rma
from tests.integration.ams.support import plant


def test_catalog_lists_every_sku(admin: httpx.Client) -> None:
    skus = {item["sku"] for item in admin.get("/_admin/catalog").json()}
    assert skus == CATALOG_SKUS


def test_bad_settings_are_refused(admin: httpx.Client) -> None:
    reply = admin.put("/_admin/settings", json={"token_delivery": "carrier-pigeon"})
    assert reply.status_code == 400
    assert admin.get("/_admin/settings").json()["token_delivery"] == "bearer"


def test_plant_refuses_second_live_rma_with_same_identifier(
    ams: AmsClient, admin: httpx.Client
) -> None:
    ams.create_rmas([rma("RLY-A001")]).raise_for_failures()

    reply = admin.post("/_admin/rmas", json={"customer_identifier": "RLY-A001"})
    assert reply.status_code == 409
    (deleted,) = plant(admin, {"customer_identifier": "RLY-A001", "status": "deleted"})
    assert deleted["status"] == "deleted"


def test_plant_keeps_given_fields(ams: AmsClient, admin: httpx.Client) -> None:
    (planted,) = plant(
        admin,
        {
            "customer_identifier": "RLY-A002",
            "status": "received",
            "created_at": "2023-12-31T23:00:00-05:00",
            "version": 4,
            "notes": "Box crushed",
        },
    )

    got = ams.get_rma_by_cid("RLY-A002")
    assert got is not None
    assert (got.id, got.version, got.notes) == (planted["id"], 4, "Box crushed")
    assert got.created_at is not None and got.created_at.isoformat() == "2024-01-01T04:00:00+00:00"


def test_reset_empties_the_account(ams: AmsClient, admin: httpx.Client) -> None:
    ams.create_rmas([rma("RLY-A003")]).raise_for_failures()
    admin.post("/_admin/reset").raise_for_status()
    assert list(ams.iter_rmas()) == []
