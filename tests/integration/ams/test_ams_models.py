"""AMS payload models: every documented variant parses, local rules name the field (no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from clients.ams import (
    AmsEventParseError,
    BatchRecordResult,
    BatchResult,
    FieldMessage,
    Rma,
    parse_rma_event,
    rma_problems,
)
from tests.integration.ams.factories import line, rma


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            [{"field_name": "quantity", "errors": ["too small", "not int"]}],
            [("quantity", "too small"), ("quantity", "not int")],
            id="schema-shape",
        ),
        pytest.param(
            [{"customer_identifier": ["301: 'x' is already taken"]}],
            [("customer_identifier", "301: 'x' is already taken")],
            id="example-shape",
        ),
        pytest.param(["Callback url update failed."], [(None, "Callback url update failed.")]),
        pytest.param({"state": "bad"}, [("state", "bad")], id="bare-dict"),
        pytest.param(None, [], id="absent"),
    ],
)
def test_batch_messages_parse_all_shapes(raw: Any, expected: list[tuple[str | None, str]]) -> None:
    result = BatchRecordResult.model_validate({"status": "failure", "messages": raw})
    assert [(m.field, m.text) for m in result.messages] == expected


@pytest.mark.parametrize("status", ["success", "Success", "SUCCESS "])
def test_batch_status_compared_case_insensitively(status: str) -> None:
    assert BatchRecordResult(status=status).ok


def test_batch_record_accepts_uri_and_reports_duplicates() -> None:
    rec = BatchRecordResult.model_validate(
        {
            "customer_identifier": "RLY-1",
            "status": "Failure",
            "uri": "https://x/rmas?cid=RLY-1",
            "messages": [{"customer_identifier": ["'RLY-1' must be unique"]}],
        }
    )
    assert rec.url == "https://x/rmas?cid=RLY-1"
    assert rec.is_duplicate_identifier and not rec.ok


def test_batch_result_merge_and_failures() -> None:
    ok = BatchResult(
        records_submitted=1, records_succeeded=1, results=[BatchRecordResult(status="success")]
    )
    bad = BatchResult(
        records_submitted=1,
        records_failed=1,
        results=[BatchRecordResult(status="failure", messages=[FieldMessage(text="no")])],
    )
    merged = BatchResult.merge([ok, bad])
    assert (merged.records_submitted, len(merged.succeeded), len(merged.failed)) == (2, 1, 1)


def test_rma_tolerates_documented_variants() -> None:
    rma_ = Rma.model_validate(
        {
            "id": "r1",
            "customer_instruction": "Dry Clean",
            "version": "8",
            "generate_return_label": "true",
            "processed_at": "",
            "warehouse_id": "1342",
            "line_items": [{"customer_sku_id": "A", "quantity": 1, "receiving_details": None}],
        }
    )
    assert rma_.customer_instructions == "Dry Clean"
    assert rma_.version == 8 and rma_.generate_return_label is True
    assert rma_.processed_at is None
    assert rma_.model_extra == {"warehouse_id": "1342"}
    assert rma_.line_items[0].receiving_details == {}


def test_rma_summary_item_maps_return_status() -> None:
    item = Rma.from_api({"id": "r2", "return_status": "received", "return_package_id": "1Z123"})
    assert (item.status, item.package_id) == ("received", "1Z123")


def _envelope(version: str | None, item: dict[str, Any], mid: str = "m-1") -> dict[str, Any]:
    env: dict[str, Any] = {"message_type": "rmaEvent", "message_id": mid, "data": [item]}
    if version:
        env["api_version"] = version
    return env


def test_parse_rma_event_single_envelope_or_array() -> None:
    v2 = _envelope("2.0", {"id": "r1", "customer_identifier": "RLY-1", "event_type": "tendered"})
    v1 = _envelope("1.0", {"id": "r2", "customer_identifier": "RLY-2", "status": "received"}, "m-2")

    single = parse_rma_event(v2)
    both = parse_rma_event([v2, v1])

    assert [(m.event, m.api_version) for m in single] == [("tendered", "2.0")]
    assert [(m.message_id, m.event, m.rma_id) for m in both] == [
        ("m-1", "tendered", "r1"),
        ("m-2", "received", "r2"),
    ]
    assert both[1].rma is not None


def test_parse_rma_event_infers_missing_version() -> None:
    item = {"id": "r1", "customer_identifier": "RLY-1", "event_type": "delivered", "as_of": ""}
    (msg,) = parse_rma_event(_envelope(None, item))
    assert (msg.api_version, msg.event, msg.as_of) == ("2.0", "delivered", None)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("text", id="not-an-object"),
        pytest.param({"data": []}, id="no-message-id"),
        pytest.param(_envelope("1.0", {"customer_identifier": "x"}), id="v1-rma-without-id"),
        pytest.param({"message_id": "m", "api_version": "1.0", "data": ["x"]}, id="v1-item-text"),
    ],
)
def test_parse_rma_event_rejects_unknown_shapes(body: Any) -> None:
    with pytest.raises(AmsEventParseError):
        parse_rma_event(body)


def test_valid_rma_has_no_problems() -> None:
    assert rma_problems(rma("RLY-0001", line(return_notes="Too big", customer_order_id="O1"))) == []
    assert rma_problems(rma("RLY-0002", label=False)) == []


def test_rma_problems_lists_every_broken_rule() -> None:
    bad = rma(
        "RLY-0003",
        line(customer_sku_id="X", return_inventory_status="lost", customer_order_id="1"),
        customer_address_postal_code="",
        customer_instructions="i" * 251,
        return_type="unidentified_return",
    )
    fields = [f for f, _ in rma_problems(bad)]
    assert fields == [
        "return_type",
        "customer_address_postal_code",
        "customer_instructions",
        "line_items[0].customer_sku_id",
        "line_items[0].customer_order_id",
        "line_items[0].return_inventory_status",
    ]
