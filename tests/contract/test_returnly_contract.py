"""Contract: the Returnly sandbox speaks JSON:API (contracts §A.2-§A.4), and the client reads it.

Every document the sandbox produces is validated against a JSON Schema of the JSON:API shapes
(top level data/included/links/meta or errors; resource objects with id/type/attributes/
relationships) plus the Returnly attributes the bridge relies on, then parsed into the client
models. The models are also fed the variations the archived sources show (numeric ids, numbers
for amounts, no ``included``, a missing ``ext_store_id``). Every attribute §A.3/§A.4 lists
must be in every record the sandbox renders (null where it does not apply).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from decimal import Decimal
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import FastAPI, Request

from clients.returnly import (
    DEFAULT_INCLUDE,
    RefundCreate,
    ReturnlyClient,
    ReturnlyConflictError,
    ReturnlyNotFoundError,
    ReturnlyValidationError,
    parse_refund_document,
    parse_return_document,
    parse_returns_document,
)
from core.settings import SANDBOX_RETURNLY_TOKEN
from sandbox.returnly.app import create_app
from sandbox.server import ThreadedServer, serve_in_thread
from tests.contract.returnly_attributes import (
    A3_RETURN,
    A3_SHOPPER_ADDRESS,
    A4_INCLUDED,
    A4_VOUCHER_REPURCHASE_DETAIL,
    FULL_RETURN_SPEC,
)

pytestmark = pytest.mark.integration

AMOUNT = {"type": ["string", "null"], "pattern": r"^-?\d+\.\d{2}$"}
TIMESTAMP = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"}

JSONAPI_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:returns-bridge:returnly:jsonapi-document",
    "$defs": {
        "identifier": {
            "type": "object",
            "required": ["type", "id"],
            "properties": {
                "type": {"type": "string", "minLength": 1},
                "id": {"type": "string", "minLength": 1},
            },
            "additionalProperties": False,
        },
        "relationship": {
            "type": "object",
            "required": ["data"],
            "properties": {
                "data": {
                    "oneOf": [
                        {"type": "null"},
                        {"$ref": "#/$defs/identifier"},
                        {"type": "array", "items": {"$ref": "#/$defs/identifier"}},
                    ]
                },
                "links": {"type": "object"},
                "meta": {"type": "object"},
            },
            "additionalProperties": False,
        },
        "resource": {
            "type": "object",
            "required": ["type", "id", "attributes"],
            "properties": {
                "type": {"type": "string", "minLength": 1},
                "id": {"type": "string", "minLength": 1},
                "attributes": {
                    "type": "object",
                    "not": {"anyOf": [{"required": ["id"]}, {"required": ["type"]}]},
                },
                "relationships": {
                    "type": "object",
                    "additionalProperties": {"$ref": "#/$defs/relationship"},
                },
                "links": {"type": "object"},
                "meta": {"type": "object"},
            },
            "additionalProperties": False,
        },
        "links": {
            "type": "object",
            "properties": {
                "self": {"type": "string"},
                "next": {"type": ["string", "null"], "pattern": "^https?://"},
            },
        },
        "error": {
            "type": "object",
            "required": ["status", "detail"],
            "properties": {
                "status": {"type": "string", "pattern": "^[45][0-9]{2}$"},
                "title": {"type": "string"},
                "detail": {"type": "string", "minLength": 1},
                "source": {
                    "type": "object",
                    "properties": {"pointer": {"type": "string", "pattern": "^/"}},
                },
            },
        },
    },
    "oneOf": [
        {
            "type": "object",
            "required": ["data"],
            "properties": {
                "data": {
                    "oneOf": [
                        {"type": "null"},
                        {"$ref": "#/$defs/resource"},
                        {"type": "array", "items": {"$ref": "#/$defs/resource"}},
                    ]
                },
                "included": {"type": "array", "items": {"$ref": "#/$defs/resource"}},
                "links": {"$ref": "#/$defs/links"},
                "meta": {"type": "object"},
            },
            "not": {"required": ["errors"]},
            "additionalProperties": False,
        },
        {
            "type": "object",
            "required": ["errors"],
            "properties": {
                "errors": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/error"}},
                "meta": {"type": "object"},
            },
            "not": {"required": ["data"]},
            "additionalProperties": False,
        },
    ],
}

RETURN_ATTRIBUTES: dict[str, Any] = {
    "type": "object",
    "required": ["rma", "status", "created_at", "updated_at", "shopper_address"],
    "properties": {
        "rma": {"type": "string", "pattern": r"^R\d+$", "maxLength": 20},
        "status": {"type": "string", "pattern": "^[a-z_]+$"},
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
        "refunded_at": {"oneOf": [{"type": "null"}, TIMESTAMP]},
        "subtotal_amount": AMOUNT,
        "estimated_refund_amount": AMOUNT,
        "refund_amount": AMOUNT,
        "is_exchange": {"type": "boolean"},
        "is_gift": {"type": "boolean"},
        "shopper_address": {
            "type": "object",
            "required": ["name", "line1", "city", "postal_code", "country_code"],
            "properties": {"country_code": {"type": "string", "pattern": "^[A-Z]{2}$"}},
        },
    },
}
LINE_ATTRIBUTES: dict[str, Any] = {
    "type": "object",
    "required": ["sku", "units", "ext_order_id", "ext_order_line_item_id", "total_refund_amount"],
    "properties": {
        "sku": {"type": ["string", "null"]},
        "units": {"type": "integer", "minimum": 1},
        "total_refund_amount": AMOUNT,
        "shipping_label_id": {"type": ["string", "null"]},
    },
}
LABEL_ATTRIBUTES: dict[str, Any] = {
    "type": "object",
    "required": ["carrier", "tracking_number"],
    "properties": {"tracking_number": {"type": "string", "minLength": 5}},
}
REFUND_ATTRIBUTES: dict[str, Any] = {
    "type": "object",
    "required": ["refund_amount", "restock", "line_items", "created_at"],
    "properties": {
        "refund_amount": AMOUNT,
        "restock": {"const": False},
        "line_items": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["return_line_item_id", "units"],
                "properties": {"units": {"type": "integer", "minimum": 1}},
            },
        },
    },
}
WEBHOOK_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["id", "event", "created_at", "data"],
    "properties": {
        "id": {"type": "string", "format": "uuid", "minLength": 36},
        "event": {"type": "string", "pattern": r"^return\.[a-z_]+$"},
        "created_at": TIMESTAMP,
        "data": JSONAPI_SCHEMA,
    },
    "additionalProperties": False,
}
ATTRIBUTE_SCHEMAS = {
    "returns": RETURN_ATTRIBUTES,
    "return_line_items": LINE_ATTRIBUTES,
    "shipping_labels": LABEL_ATTRIBUTES,
    "refunds": REFUND_ATTRIBUTES,
}

PRESENCE_SCHEMAS: dict[str, dict[str, Any]] = {
    "returns": {
        "type": "object",
        "required": list(A3_RETURN),
        "properties": {"shopper_address": {"type": "object", "required": list(A3_SHOPPER_ADDRESS)}},
    },
    **{type_: {"type": "object", "required": list(names)} for type_, names in A4_INCLUDED.items()},
}
PRESENCE_SCHEMAS["repurchases"]["properties"] = {
    "voucher_repurchase_details": {
        "type": "array",
        "items": {"type": "object", "required": list(A4_VOUCHER_REPURCHASE_DETAIL)},
    }
}
"""§A.3/§A.4: every attribute is present (values may be null)."""

HEADERS = {"X-Api-Token": SANDBOX_RETURNLY_TOKEN, "X-Api-Version": "2020-08"}


DOCUMENT_VALIDATOR = jsonschema.Draft202012Validator(JSONAPI_SCHEMA)
ATTRIBUTE_VALIDATORS = {
    type_: jsonschema.Draft202012Validator(schema) for type_, schema in ATTRIBUTE_SCHEMAS.items()
}
PRESENCE_VALIDATORS = {
    type_: jsonschema.Draft202012Validator(schema) for type_, schema in PRESENCE_SCHEMAS.items()
}


def assert_jsonapi(document: Any) -> None:
    """Validate the document shape, then the Returnly attributes of each known resource type
    (their types, and the presence of every §A.3/§A.4 attribute)."""
    DOCUMENT_VALIDATOR.validate(document)
    data = document.get("data")
    resources = [*(data if isinstance(data, list) else [data] if data else [])]
    resources += document.get("included", [])
    for res in resources:
        for validators in (ATTRIBUTE_VALIDATORS, PRESENCE_VALIDATORS):
            validator = validators.get(res["type"])
            if validator is not None:
                validator.validate(res["attributes"])


@pytest.mark.parametrize(
    "schema",
    [pytest.param(JSONAPI_SCHEMA, id="document"), pytest.param(WEBHOOK_ENVELOPE, id="webhook")]
    + [pytest.param(s, id=t) for t, s in ATTRIBUTE_SCHEMAS.items()]
    + [pytest.param(s, id=f"{t}-presence") for t, s in PRESENCE_SCHEMAS.items()],
)
def test_schemas_are_valid_json_schema(schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(
    "document",
    [
        pytest.param({"data": [], "errors": []}, id="data-and-errors"),
        pytest.param({"data": [{"type": "returns", "attributes": {}}]}, id="no-id"),
        pytest.param({"data": {"type": "returns", "id": 1, "attributes": {}}}, id="numeric-id"),
        pytest.param({"errors": [{"status": "404"}]}, id="error-without-detail"),
        pytest.param({"data": None, "links": {"next": "/returns.json?page=2"}}, id="relative-next"),
    ],
)
def test_schema_rejects_malformed_documents(document: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        assert_jsonapi(document)


def assert_full_linkage(document: dict[str, Any], include: tuple[str, ...]) -> None:
    """Every relationship of an included type points at a record in ``included``."""
    present = {(r["type"], r["id"]) for r in document.get("included", [])}
    for res in document["data"]:
        for name, rel in res["relationships"].items():
            refs = rel["data"] if isinstance(rel["data"], list) else [rel["data"]]
            for ref in refs:
                if ref is not None and name in include:
                    assert (ref["type"], ref["id"]) in present


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    """A seeded sandbox for this module."""
    with serve_in_thread(create_app(seed_count=60, seed=4)) as srv:
        yield srv


@pytest.fixture
def http(server: ThreadedServer) -> Iterator[httpx.Client]:
    """Raw HTTP with the sandbox token, to see documents as they are on the wire."""
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as client:
        yield client


@pytest.mark.parametrize(
    "include",
    [
        pytest.param(DEFAULT_INCLUDE, id="all-includes"),
        pytest.param(("return_line_items",), id="lines-only"),
        pytest.param((), id="no-include"),
    ],
)
def test_list_documents_match_jsonapi_schema(http: httpx.Client, include: tuple[str, ...]) -> None:
    params: dict[str, Any] | None = {"page_size": 25, "include": ",".join(include)}
    url: str | None = "/returns.json"
    parsed = 0
    while url:
        document = http.get(url, params=params).json()
        assert_jsonapi(document)
        assert_full_linkage(document, include)
        assert {r["type"] for r in document.get("included", [])} <= set(include)
        returns = parse_returns_document(document)
        assert [r.id for r in returns] == [d["id"] for d in document["data"]]
        parsed += len(returns)
        url, params = document["links"]["next"], None
    assert parsed == 60


def test_single_document_matches_schema_and_parses(http: httpx.Client) -> None:
    first = http.get("/returns.json", params={"page_size": 1}).json()["data"][0]

    document = http.get(
        f"/returns/{first['id']}.json", params={"include": ",".join(DEFAULT_INCLUDE)}
    ).json()

    assert_jsonapi(document)
    ret = parse_return_document(document)
    assert ret.id == first["id"]
    assert len(ret.line_items) == len(
        document["data"]["relationships"]["return_line_items"]["data"]
    )


def test_refund_documents_match_schema(server: ThreadedServer, http: httpx.Client) -> None:
    doc = http.get(
        "/returns.json", params={"status": "authorized", "include": "return_line_items"}
    ).json()
    target = parse_returns_document(doc)[0]
    body = {
        "data": {
            "type": "refunds",
            "attributes": {
                "rma": target.rma,
                "restock": False,
                "line_items": [{"return_line_item_id": target.line_items[0].id, "units": 1}],
                "deduction_amount": "0.00",
            },
        }
    }

    created = http.post("/refunds.json", json=body, headers={"Idempotency-Key": "c-1"})
    conflict = http.post("/refunds.json", json=body, headers={"Idempotency-Key": "c-2"})

    assert created.status_code == 201 and conflict.status_code == 409
    assert_jsonapi(created.json())
    assert_jsonapi(conflict.json())
    refund = parse_refund_document(created.json())
    assert refund.return_id == target.id and refund.restock is False
    after = http.get(f"/returns/{target.id}.json", params={"include": "refunds"}).json()
    assert_jsonapi(after)
    assert parse_return_document(after).refunds[0].id == refund.id
    again = RefundCreate(
        rma=target.rma, line_items=[{"return_line_item_id": target.line_items[0].id, "units": 1}]
    )
    client = ReturnlyClient(base_url=server.url, api_token=SANDBOX_RETURNLY_TOKEN)
    with client, pytest.raises(ReturnlyConflictError):
        client.create_refund(again, idempotency_key="c-3")


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        pytest.param("GET", "/returns/0.json", {}, 404, id="not-found"),
        pytest.param(
            "GET", "/returns.json", {"params": {"include": "nope"}}, 400, id="bad-include"
        ),
        pytest.param("GET", "/returns.json", {"params": {"page": 0}}, 400, id="bad-page"),
        pytest.param(
            "GET", "/returns.json", {"params": {"min_updated_at": "x"}}, 400, id="bad-time"
        ),
        pytest.param("POST", "/refunds.json", {"json": {"data": {}}}, 422, id="bad-refund"),
        pytest.param("POST", "/refunds.json", {"content": b"{"}, 400, id="not-json"),
        pytest.param("GET", "/returns.json", {"headers": {"X-Api-Token": "x"}}, 401, id="auth"),
    ],
)
def test_error_documents_match_schema(
    http: httpx.Client, method: str, path: str, kwargs: dict[str, Any], status: int
) -> None:
    response = http.request(method, path, **kwargs)

    assert response.status_code == status
    assert_jsonapi(response.json())


def test_client_maps_error_documents(server: ThreadedServer) -> None:
    with ReturnlyClient(base_url=server.url, api_token=SANDBOX_RETURNLY_TOKEN) as client:
        with pytest.raises(ReturnlyNotFoundError) as missing:
            client.get_return("0")
        with pytest.raises(ReturnlyValidationError) as invalid:
            client.list_returns(include=("nope",))
    assert missing.value.body["errors"][0]["status"] == "404"
    assert invalid.value.messages == ["cannot include nope"]


def test_webhook_documents_match_schema(http: httpx.Client) -> None:
    created = http.post(
        "/webhooks.json",
        json={
            "data": {"type": "webhooks", "attributes": {"url": "https://x.test/h", "event": "*"}}
        },
    )
    listed = http.get("/webhooks.json")

    assert created.status_code == 201
    assert_jsonapi(created.json())
    assert_jsonapi(listed.json())
    assert "secret" in created.json()["data"]["attributes"]
    assert all("secret" not in w["attributes"] for w in listed.json()["data"])
    assert http.delete(f"/webhooks/{created.json()['data']['id']}.json").status_code == 204


def test_webhook_envelope_matches_schema(server: ThreadedServer, http: httpx.Client) -> None:
    bodies: list[Any] = []
    receiver = FastAPI()

    @receiver.post("/hook")
    async def hook(request: Request) -> dict[str, bool]:
        bodies.append(await request.json())
        return {"ok": True}

    with serve_in_thread(receiver) as rx:
        sub = {"url": f"{rx.url}/hook", "event": "return.in_transit"}
        http.post("/webhooks.json", json={"data": {"type": "webhooks", "attributes": sub}})
        rid = http.get("/returns.json", params={"page_size": 1}).json()["data"][0]["id"]
        admin = f"{server.url}/_admin"
        httpx.post(f"{admin}/returns/{rid}/status", json={"status": "in_transit"})
        httpx.post(f"{admin}/deliveries/flush").raise_for_status()

    (envelope,) = bodies
    jsonschema.validate(envelope, WEBHOOK_ENVELOPE, cls=jsonschema.Draft202012Validator)
    assert_jsonapi(envelope["data"])
    ret = parse_return_document(envelope["data"])
    assert ret.id == rid and ret.status == "in_transit" and ret.line_items


def test_models_accept_the_variations_seen_in_archived_sources() -> None:
    document = {
        "data": [
            {
                "type": "returns",
                "id": 123,
                "attributes": {
                    "rma": 4567,
                    "status": "pending_refund",
                    "currency": "USD",
                    "subtotal_amount": 19.9,
                    "refund_amount": None,
                    "created_at": "2020-08-01T10:00:00",
                    "updated_at": "2020-08-02T10:00:00.123456Z",
                    "is_gift": None,
                    "brand_new_field": {"nested": True},
                },
                "relationships": {
                    "return_line_items": {"data": [{"type": "return_line_items", "id": 9}]},
                    "instant_refund_voucher": {"data": None},
                },
            }
        ]
    }

    (ret,) = parse_returns_document(document)

    assert ret.id == "123" and ret.rma == "4567"
    assert ret.ext_store_id is None
    assert ret.subtotal_amount == Decimal("19.9")
    assert ret.created_at.tzinfo == UTC
    assert ret.is_gift is False
    assert ret.line_items == []  # referenced but not included
    assert ret.is_actionable
    assert ret.model_extra == {"brand_new_field": {"nested": True}}


def test_models_resolve_numeric_ids_and_single_voucher() -> None:
    document = {
        "data": {
            "type": "returns",
            "id": "1",
            "attributes": {
                "rma": "R1",
                "status": "authorized",
                "created_at": "2020-08-01T10:00:00Z",
                "updated_at": "2020-08-01T10:00:00Z",
            },
            "relationships": {
                "return_line_items": {"data": [{"type": "return_line_items", "id": 9}]},
                "instant_refund_voucher": {"data": {"type": "instant_refund_voucher", "id": 3}},
            },
        },
        "included": [
            {"type": "return_line_items", "id": "9", "attributes": {"sku": "A", "units": 2}},
            {"type": "instant_refund_voucher", "id": 3, "attributes": {"status": "active"}},
            {"type": "something_new", "id": "1", "attributes": {}},
        ],
    }

    ret = parse_return_document(document)

    assert [(li.id, li.units) for li in ret.line_items] == [("9", 2)]
    assert ret.instant_refund_voucher is not None
    assert ret.instant_refund_voucher.status == "active"


def _records_by_type(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for res in [*document["data"], *document.get("included", [])]:
        out.setdefault(res["type"], []).append(res)
    return out


@pytest.mark.parametrize(
    ("type_", "name"),
    [pytest.param("returns", n, id=f"returns.{n}") for n in A3_RETURN]
    + [pytest.param(t, n, id=f"{t}.{n}") for t, names in A4_INCLUDED.items() for n in names]
    + [pytest.param("returns", f"shopper_address.{n}", id=n) for n in A3_SHOPPER_ADDRESS]
    + [
        pytest.param("repurchases", f"voucher_repurchase_details.{n}", id=f"detail.{n}")
        for n in A4_VOUCHER_REPURCHASE_DETAIL
    ],
)
def test_presence_schema_rejects_a_record_without_an_attribute(type_: str, name: str) -> None:
    names = A3_RETURN if type_ == "returns" else A4_INCLUDED[type_]
    attributes: dict[str, Any] = dict.fromkeys(names)
    if type_ == "returns":
        attributes["shopper_address"] = dict.fromkeys(A3_SHOPPER_ADDRESS)
    if type_ == "repurchases":
        attributes["voucher_repurchase_details"] = [dict.fromkeys(A4_VOUCHER_REPURCHASE_DETAIL)]
    PRESENCE_VALIDATORS[type_].validate(attributes)
    outer, _, inner = name.partition(".")
    if inner:
        nested = attributes[outer]
        del (nested[0] if isinstance(nested, list) else nested)[inner]
    else:
        del attributes[outer]
    with pytest.raises(jsonschema.ValidationError, match=inner or outer):
        PRESENCE_VALIDATORS[type_].validate(attributes)


def test_every_documented_attribute_is_rendered() -> None:
    """§A.3/§A.4: each attribute is in every record of its type, with realistic values."""
    with serve_in_thread(create_app(seed_count=30, seed=4)) as srv:
        planted = httpx.post(f"{srv.url}/_admin/returns", json=FULL_RETURN_SPEC).json()
        with httpx.Client(base_url=srv.url, headers=HEADERS, timeout=30) as http:
            params: dict[str, str | int] = {"include": ",".join(DEFAULT_INCLUDE), "page_size": 100}
            document = http.get("/returns.json", params=params).json()

    assert_jsonapi(document)
    by_type = _records_by_type(document)
    assert set(by_type) == {"returns", *A4_INCLUDED}
    for type_, records in by_type.items():
        names = A3_RETURN if type_ == "returns" else A4_INCLUDED[type_]
        for record in records:
            missing = [n for n in names if n not in record["attributes"]]
            assert not missing, f"{type_} {record['id']} lacks {missing}"
    for resource in by_type["returns"]:
        assert set(resource["attributes"]["shopper_address"]) >= set(A3_SHOPPER_ADDRESS)
    details = [
        d for rp in by_type["repurchases"] for d in rp["attributes"]["voucher_repurchase_details"]
    ]
    assert details
    assert all(set(d) >= set(A4_VOUCHER_REPURCHASE_DETAIL) for d in details)

    # The planted return: routing fields and an earlier RMA on its first line, credit spent.
    (ret,) = parse_returns_document(
        {
            "data": [d for d in document["data"] if d["id"] == planted["id"]],
            "included": document["included"],
        }
    )
    first, second = ret.line_items
    assert (first.return_location, first.return_warehouse_tag) == ("Reno returns dock", "west")
    assert (first.is_ror_or_roe, first.original_rmas) == (True, ["R1000042"])
    assert (second.is_ror_or_roe, second.original_rmas) == (False, [])
    assert (second.return_location, second.return_warehouse_tag) == (None, None)
    assert first.order_shipping_refund_amount == first.return_label_cost_amount == Decimal("0")
    assert first.return_shipping_paid_amount == Decimal("0.00")
    (rp,) = ret.repurchases
    assert (rp.total_order_amount, rp.total_credit_spent_amount) == (Decimal(40), Decimal(25))
    assert rp.total_shopper_uplift_amount == Decimal(15) and rp.shopper_uplift_charge_id
    assert (
        rp.total_returnly_fee_amount == Decimal(0) and rp.commission_adjustment_invoice_id is None
    )
    assert rp.processed_at == ret.created_at
    (detail,) = rp.voucher_repurchase_details
    assert ret.instant_refund_voucher is not None
    assert detail.ext_voucher_id == ret.instant_refund_voucher.ext_voucher_id
    assert (detail.credit_spent_amount, detail.remaining_credit_amount) == (Decimal(25), Decimal(0))
    assert detail.gift_card_last4 == (detail.ext_voucher_id or "")[-4:]
    (invoice,) = ret.invoice_items
    assert detail.invoice_item_id == invoice.id
    assert (invoice.invoiced_at, invoice.paid_at) == (ret.created_at, None)
    # Seeded returns: nothing routed, nothing re-returned.
    seeded = [li for r in by_type["return_line_items"] if (li := r["attributes"])]
    assert sum(not li["is_ror_or_roe"] and li["original_rmas"] == [] for li in seeded) == (
        len(seeded) - 1
    )
