"""RMA writes against the AMS sandbox: per-record outcomes, local checks, chunks, PUT/DELETE."""

from __future__ import annotations

import httpx
import pytest

from clients.ams import AmsBatchError, AmsClient, AmsRequestRejectedError, RmaCreate
from sandbox.catalog import UNKNOWN_SKU
from tests.integration.ams.factories import line, rma
from tests.integration.ams.support import API, AUTH, api_requests, plant


def test_create_rmas_partial_success_in_one_batch(ams: AmsClient) -> None:
    result = ams.create_rmas(
        [
            rma("RLY-1001"),
            rma("RLY-1002", line(UNKNOWN_SKU)),
            rma("RLY-1003", line("HOOD-NAVY-L", 2), label=False),
        ]
    )

    assert (result.records_submitted, result.records_succeeded, result.records_failed) == (3, 2, 1)
    assert [r.customer_identifier for r in result.succeeded] == ["RLY-1001", "RLY-1003"]
    (failed,) = result.failed
    assert failed.customer_identifier == "RLY-1002"
    assert [m.field for m in failed.messages] == ["line_items[0].customer_sku_id"]
    assert UNKNOWN_SKU in failed.messages[0].text
    labelled, existing = result.succeeded
    assert labelled.return_label_url and labelled.return_tracking_number
    assert labelled.url and labelled.url.endswith("/rmas?cid=RLY-1001")
    assert existing.additional_data is None
    with pytest.raises(AmsBatchError, match="RLY-1002") as info:
        result.raise_for_failures()
    assert info.value.failed == [failed]

    created = ams.get_rma_by_cid("RLY-1001")
    assert created is not None
    assert (created.status, created.version) == ("open", 1)
    assert created.package_id == labelled.return_tracking_number
    assert ams.get_rma_by_cid("RLY-1002") is None


def test_create_rma_duplicate_identifier_refused(ams: AmsClient) -> None:
    ams.create_rmas([rma("RLY-2001")]).raise_for_failures()

    again = ams.create_rmas([rma("RLY-2001"), rma("RLY-2002")])

    dup = again.by_identifier()["RLY-2001"]
    assert not dup.ok
    assert dup.is_duplicate_identifier
    assert again.by_identifier()["RLY-2002"].ok


def test_create_rmas_duplicate_within_one_call_rejected_before_sending(
    ams: AmsClient, admin: httpx.Client
) -> None:
    with pytest.raises(AmsRequestRejectedError, match=r"rmas\[1\]\.customer_identifier"):
        ams.create_rmas([rma("RLY-3001"), rma("RLY-3001")])
    assert api_requests(admin) == []


LONG_NOTE = "x" * 57


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        pytest.param(
            rma("RLY-4001", line(), line(), line(return_notes=LONG_NOTE)),
            r"rmas\[1\]\.line_items\[2\]\.return_notes: length 57 > 50",
            id="return-notes-too-long",
        ),
        pytest.param(
            rma("RLY-4002", customer_address_country_code="CA"),
            r"customer_address_country_code: 'CA' not supported \(US only\)",
            id="country-not-us",
        ),
        pytest.param(
            rma("RLY-4003", customer_address_state="New York"),
            r"customer_address_state: length 8 > 2",
            id="state-not-2-chars",
        ),
        pytest.param(
            rma("RLY-4004", label=False, package_id=None),
            r"package_id: required when generate_return_label is false",
            id="no-label-needs-package-id",
        ),
        pytest.param(
            rma("RLY-4005", customer_address_city=None),
            r"customer_address_city: required when generate_return_label is true",
            id="label-needs-address",
        ),
        pytest.param(rma("RLY4"), r"customer_identifier: length 4 < 5", id="identifier-short"),
        pytest.param(
            rma("RLY-4006", line(return_reason_code="fit")),
            r"line_items\[0\]\.return_reason_code: 'fit' not one of",
            id="reason-code-not-in-spec",
        ),
        pytest.param(
            rma("RLY-4007", manifest_id="M" * 21),
            r"manifest_id: length 21 > 20",
            id="manifest-too-long",
        ),
        pytest.param(
            RmaCreate(
                customer_identifier="RLY-4008",
                generate_return_label=False,
                package_id="1Z999",
                line_items=[],
            ),
            r"line_items: at least 1 line item required",
            id="no-lines",
        ),
    ],
)
def test_create_rmas_field_limit_rejected_before_sending(
    ams: AmsClient, admin: httpx.Client, bad: RmaCreate, message: str
) -> None:
    with pytest.raises(AmsRequestRejectedError, match=message) as info:
        ams.create_rmas([rma("RLY-4000"), bad])
    assert info.value.customer_identifier == bad.customer_identifier
    assert api_requests(admin) == []


def test_create_rmas_empty_call_rejected(ams: AmsClient, admin: httpx.Client) -> None:
    with pytest.raises(AmsRequestRejectedError, match="at least 1 record"):
        ams.create_rmas([])
    assert api_requests(admin) == []


def test_sandbox_refuses_the_same_limits_per_record(admin: httpx.Client) -> None:
    """The server's own checks agree with the client's: a raw over-long note fails per record."""
    body = rma("RLY-4101").to_wire()
    body["line_items"][0]["return_notes"] = LONG_NOTE
    body["customer_address_country_code"] = "CA"
    reply = admin.post(f"{API}/rmas", json=[body, rma("RLY-4102").to_wire()], headers=AUTH)

    assert reply.status_code == 200
    first, second = reply.json()["results"]
    assert (first["status"], second["status"]) == ("failure", "success")
    fields = {m["field_name"] for m in first["messages"]}
    assert fields == {"line_items[0].return_notes", "customer_address_country_code"}


def test_sandbox_refuses_more_than_30_records(admin: httpx.Client) -> None:
    records = [rma(f"RLY-42{i:02d}").to_wire() for i in range(31)]
    reply = admin.post(f"{API}/rmas", json=records, headers=AUTH)
    assert reply.status_code == 400
    assert "at most 30" in reply.json()["message"]


def test_create_rmas_splits_batches_over_30(ams: AmsClient, admin: httpx.Client) -> None:
    rmas = [rma(f"RLY-5{i:03d}") for i in range(65)]

    result = ams.create_rmas(rmas)

    assert result.records_submitted == result.records_succeeded == 65
    assert [r.customer_identifier for r in result.results] == [r.customer_identifier for r in rmas]
    posts = [r for r in api_requests(admin) if r["method"] == "POST"]
    assert len(posts) == 3
    assert len(list(ams.iter_rmas())) == 65


def test_update_rma_replaces_record_and_bumps_version(ams: AmsClient) -> None:
    ams.create_rmas([rma("RLY-6001", line("TEE-BLACK-M", 1), line("CAP-RUST-S", 1))])

    result = ams.update_rmas([rma("RLY-6001", line("JEAN-NAVY-M", 3), manifest_id="R-6001")])
    result.raise_for_failures()
    ams.update_rmas([rma("RLY-6001", line("JEAN-NAVY-M", 2))]).raise_for_failures()

    updated = ams.get_rma_by_cid("RLY-6001")
    assert updated is not None
    assert updated.version == 3
    assert [(li.customer_sku_id, li.quantity) for li in updated.line_items] == [("JEAN-NAVY-M", 2)]
    assert updated.manifest_id is None, "PUT is a full replacement: omitted fields are cleared"


def test_update_unknown_rma_fails_per_record(ams: AmsClient) -> None:
    result = ams.update_rmas([rma("RLY-6101")])
    (failed,) = result.failed
    assert failed.messages[0].field == "customer_identifier"
    assert "not found" in failed.messages[0].text


@pytest.mark.parametrize(
    ("status", "allowed"),
    [
        ("open", True),
        ("tendered", True),
        ("inTransit", True),
        ("delivered", False),
        ("in-receiving", False),
        ("received", False),
        ("undeliverable", False),
    ],
)
def test_update_allowed_only_while_open_tendered_or_in_transit(
    ams: AmsClient, admin: httpx.Client, status: str, allowed: bool
) -> None:
    plant(admin, {"customer_identifier": "RLY-6201", "status": status, "line_items": []})

    result = ams.update_rmas([rma("RLY-6201")])

    assert result.results[0].ok is allowed
    if not allowed:
        assert result.results[0].messages[0].field == "status"


def test_delete_rma_soft_deletes_and_frees_identifier(ams: AmsClient) -> None:
    ams.create_rmas([rma("RLY-7001")]).raise_for_failures()
    first = ams.get_rma_by_cid("RLY-7001")
    assert first is not None

    ams.delete_rmas(["RLY-7001"]).raise_for_failures()
    deleted = ams.get_rma_by_cid("RLY-7001")
    assert deleted is not None
    assert deleted.is_deleted and deleted.deleted_at is not None and deleted.id == first.id

    ams.create_rmas([rma("RLY-7001")]).raise_for_failures()
    again = ams.get_rma_by_cid("RLY-7001")
    assert again is not None
    assert again.id != first.id and not again.is_deleted
    assert [r.id for r in ams.iter_rmas(status="deleted")] == [first.id]


@pytest.mark.parametrize("status", ["tendered", "received", "deleted"])
def test_delete_rma_refused_unless_open(ams: AmsClient, admin: httpx.Client, status: str) -> None:
    plant(admin, {"customer_identifier": "RLY-7101", "status": status, "line_items": []})

    result = ams.delete_rmas(["RLY-7101", "RLY-7199"])

    assert [r.ok for r in result.results] == [False, False]
    assert "not found" in result.results[1].messages[0].text


def test_delete_rmas_rejects_empty_identifier_before_sending(
    ams: AmsClient, admin: httpx.Client
) -> None:
    with pytest.raises(AmsRequestRejectedError, match=r"customer_identifiers\[1\]"):
        ams.delete_rmas(["RLY-7201", " "])
    assert api_requests(admin) == []
