"""Contract: what the AMS client sends and what the AMS sandbox emits match MasonHub's spec schemas.

One scenario drives the real client against the served sandbox, recording every request and
response through an httpx event hook, and every callback at a local receiver. Each test then
validates one operation's traffic against that operation's schema from the OpenAPI document.

Where the spec schema is known to be wrong, the test validates what the spec's own examples
and the other sources show instead, and says why in a ``DEVIATION`` note. The guard test at
the bottom fails if MasonHub ever fixes one of those schemas, so the workaround can go.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from clients.ams import AmsClient, CallbackCreate
from core.settings import SANDBOX_ACCOUNT, SANDBOX_AMS_TOKEN
from sandbox.ams.app import create_app
from sandbox.catalog import UNKNOWN_SKU
from sandbox.server import serve_in_thread
from tests.contract.openapi import (
    assert_valid,
    component_schema,
    errors_of,
    examples,
    request_schema,
    response_schema,
)
from tests.integration.ams.factories import line, rma
from tests.integration.ams.receiver import CallbackReceiver, Received

PREFIX = f"/{SANDBOX_ACCOUNT}/api/v1"
CALLBACK_TOKEN = "contract-callback-token"
EVENTS = [
    "receiveFull",
    "receivePartial",
    "receiveUnexpected",
    "receivingStarted",
    "tendered",
    "inTransit",
    "delivered",
    "undeliverable",
]
CARRIER_AND_DOCK_STATUSES = ["tendered", "inTransit", "delivered", "undeliverable", "onDock"]


@dataclass
class Exchange:
    """One request the client sent and the sandbox's answer."""

    method: str
    path: str
    request_json: Any
    status: int
    response_json: Any


@dataclass
class Traffic:
    """Everything the scenario produced."""

    exchanges: list[Exchange] = field(default_factory=list)
    callbacks: list[Received] = field(default_factory=list)

    def of(self, method: str, path: str, status: int = 200) -> list[Exchange]:
        """Exchanges of one operation; fails when the scenario never exercised it."""
        found = [
            x for x in self.exchanges if (x.method, x.path, x.status) == (method, path, status)
        ]
        assert found, f"scenario sent no {method} {path} answered {status}"
        return found

    def callbacks_of(self, version: str) -> list[Received]:
        """Callbacks delivered to the receiver for one api_version."""
        found = [c for c in self.callbacks if c.path.startswith(f"v{version}")]
        assert found, f"no api_version {version} callbacks were delivered"
        return found


def _recorder(traffic: Traffic) -> Any:
    def on_response(response: httpx.Response) -> None:
        response.read()
        request = response.request
        body = json.loads(request.content) if request.content else None
        try:
            answer = response.json()
        except ValueError:
            answer = response.text
        path = request.url.path.removeprefix(PREFIX)
        traffic.exchanges.append(Exchange(request.method, path, body, response.status_code, answer))

    return on_response


def _run_scenario(ams: AmsClient, admin: httpx.Client, rx: CallbackReceiver) -> None:
    """Exercise every AMS operation the bridge uses, successes and per-record failures."""
    ams.register_callbacks(
        [
            CallbackCreate(url=f"{rx.url}/v1.0", message_type="rmaEvent", api_version="1.0"),
            CallbackCreate(
                url=f"{rx.url}/v2.0",
                message_type="rmaEvent",
                api_version="2.0",
                token=CALLBACK_TOKEN,
            ),
            CallbackCreate(url=f"{rx.url}/orders", message_type="orderEvent"),
        ]
    )
    ams.create_rmas(
        [
            rma("CT-0001", line(customer_order_id="ORD-1001", return_notes="Too big")),
            rma("CT-0002", line("HOOD-NAVY-L", 2), label=False),
            rma("CT-0003", line(UNKNOWN_SKU)),
            rma("CT-0004", line("CAP-RUST-S", return_inventory_status="available")),
        ]
    )
    ams.create_rmas([rma("CT-0001")])  # duplicate: per-record failure
    ams.update_rmas([rma("CT-0002", line("HOOD-NAVY-L", 1), label=False), rma("CT-0404")])
    ams.delete_rmas(["CT-0004", "CT-0405"])
    events = [f"CT-1{i:03d}" for i in range(len(EVENTS))]
    ams.create_rmas([rma(cid, line("TEE-BLACK-M", 2), line("SOCK-OLIVE-M")) for cid in events])
    for i, (cid, event) in enumerate(zip(events, EVENTS, strict=True)):
        ams.trigger_rma_event(cid, event, randomize_inventory_statuses=i % 2 == 1)  # type: ignore[arg-type]
    ams.trigger_rma_event("CT-9999", "tendered")  # per-record failure
    admin.post("/_admin/deliveries/flush").raise_for_status()
    admin.put("/_admin/settings", json={"envelope_as_array": True}).raise_for_status()
    ams.create_rmas([rma("CT-2001")])
    ams.trigger_rma_event("CT-2001", "receiveFull")
    admin.post("/_admin/deliveries/flush").raise_for_status()
    list(ams.iter_rmas(page_size=3))
    list(ams.iter_rmas(list_type="summary"))
    list(ams.iter_rmas(status="received"))
    ams.get_rmas_by_id([r.id for r in ams.iter_rmas()][:5])
    ams.get_rma_by_cid("CT-0001")
    callbacks = ams.list_callbacks()
    ams.delete_callbacks([c.id for c in callbacks if c.message_type == "orderEvent" and c.id])


@pytest.fixture(scope="module")
def traffic() -> Iterator[Traffic]:
    """Run the scenario once against a served sandbox and a served receiver."""
    recorded = Traffic()
    rx = CallbackReceiver()
    with serve_in_thread(create_app(seed=11)) as srv, serve_in_thread(rx.app()) as rx_srv:
        rx.url = rx_srv.url
        hooks = {"response": [_recorder(recorded)]}
        with (
            httpx.Client(event_hooks=hooks, timeout=30) as http,
            httpx.Client(base_url=srv.url, timeout=30) as admin,
        ):
            ams = AmsClient(
                base_url=srv.url,
                account=SANDBOX_ACCOUNT,
                api_token=SANDBOX_AMS_TOKEN,
                http_client=http,
            )
            _run_scenario(ams, admin, rx)
            for path in ("/rmas", "/callbacks"):
                http.get(f"{srv.url}{PREFIX}{path}", headers={"Authorization": "Bearer nope"})
        recorded.callbacks = list(rx.calls)
        yield recorded


# --- schema adjustments for the documented spec errors ------------------------------------


def records_envelope_schema(path: str, method: str) -> dict[str, Any]:
    """The schema of the records envelope every AMS write answers.

    DEVIATION: the spec declares the 200 body as ``type: array`` of objects whose
    *properties* are the envelope (``records_*``, ``results``) and whose ``required`` list
    (``customer_identifier, status, messages``) names per-record fields. Every example, the
    gem and the MD docs show one envelope object. So we validate the object against the item
    schema, with that ``required`` list moved to ``results[]`` where its fields live.
    """
    declared = response_schema(path, method)
    assert declared["type"] == "array"
    envelope: dict[str, Any] = copy.deepcopy(declared["items"])
    per_record = envelope.pop("required")
    envelope["required"] = ["records_submitted", "records_failed", "records_succeeded", "results"]
    envelope["properties"]["results"]["items"]["required"] = per_record
    return envelope


def relax_rma_status(item_schema: dict[str, Any]) -> dict[str, Any]:
    """DEVIATION: the RMA ``status`` enum (open, in-receiving, received, deleted) omits the
    carrier statuses MD lists as RMA statuses and the /rmaEvent text sends as events
    (tendered, inTransit, delivered, undeliverable, onDock); the sandbox uses them after those
    DataFactory events, as the real service's callbacks do. Everything else stays strict.
    """
    out = copy.deepcopy(item_schema)
    out["properties"]["status"]["enum"] += CARRIER_AND_DOCK_STATUSES
    return out


def v2_event_item_schema() -> dict[str, Any]:
    """DEVIATION: the spec has no schema for api_version 2.0 items (its /rmaEvent schema is
    the 1.0 one). This one is derived from the spec's two 2.0 examples: a short item with
    ``event_type``, or ``status: received`` with ``details`` = the full RMA plus warehouse
    fields, where ``version`` and ``generate_return_label`` are strings ('8', 'true').
    """
    rma_item = relax_rma_status(
        request_schema("/rmaEvent", "post")["items"]["properties"]["data"]["items"]
    )
    details = copy.deepcopy(rma_item)
    details["properties"]["version"] = {"type": "string", "pattern": "^[0-9]+$"}
    details["properties"]["generate_return_label"] = {"type": "string", "enum": ["true", "false"]}
    for name in ("warehouse_id", "warehouse_address", "return_service_level"):
        details["properties"][name] = {"type": "string"}
    base = {
        "id": {"type": "string", "format": "uuid"},
        "customer_identifier": {"type": "string"},
        "as_of": {"type": "string", "format": "date-time"},
    }
    return {
        "oneOf": [
            {
                "type": "object",
                "required": ["id", "customer_identifier", "event_type", "as_of"],
                "properties": {
                    **base,
                    "event_type": {
                        "enum": [*CARRIER_AND_DOCK_STATUSES, "receivingStarted"],
                    },
                },
                "not": {"required": ["details"]},
            },
            {
                "type": "object",
                "required": ["id", "customer_identifier", "status", "as_of", "details"],
                "properties": {**base, "status": {"enum": ["received"]}, "details": details},
            },
        ]
    }


def rma_event_schema(version: str, *, as_array: bool) -> dict[str, Any]:
    """The /rmaEvent body schema for one api_version.

    DEVIATION: the schema says the body is an array (max 30) of envelopes; every example is
    one envelope. The sandbox sends one envelope by default and the array when
    ``envelope_as_array`` is set, so both forms are checked.
    """
    declared = request_schema("/rmaEvent", "post")
    item: dict[str, Any] = declared["items"]
    item["required"] = ["message_type", "message_id", "api_version", "data"]
    data = item["properties"]["data"]
    data["items"] = relax_rma_status(data["items"]) if version == "1.0" else v2_event_item_schema()
    return declared if as_array else item


# --- client requests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/rmas"), ("PUT", "/rmas"), ("DELETE", "/rmas")]
)
def test_client_rma_write_bodies_match_spec(traffic: Traffic, method: str, path: str) -> None:
    schema = request_schema(path, method)
    for x in traffic.of(method, path):
        assert_valid(schema, x.request_json, f"{method} {path} request")


def test_client_callback_requests_match_spec(traffic: Traffic) -> None:
    for method in ("POST", "DELETE"):
        schema = request_schema("/callbacks", method)
        for x in traffic.of(method, "/callbacks"):
            assert_valid(schema, x.request_json, f"{method} /callbacks request")


def test_client_data_factory_requests_match_spec(traffic: Traffic) -> None:
    """DEVIATION: the schema requires ``resolution`` (copied from orderCancelResolution); the
    field the operation documents and the examples send is ``event``."""
    schema = request_schema("/data_factory/rmaEvent", "post")
    assert schema["items"]["required"] == ["resolution"]
    schema["items"]["required"] = ["customer_identifier", "event"]
    for x in traffic.of("POST", "/data_factory/rmaEvent"):
        assert_valid(schema, x.request_json, "POST /data_factory/rmaEvent request")


# --- sandbox responses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/rmas"), ("PUT", "/rmas"), ("DELETE", "/rmas"), ("POST", "/data_factory/rmaEvent")],
)
def test_sandbox_write_responses_match_spec(traffic: Traffic, method: str, path: str) -> None:
    schema = records_envelope_schema(path, method.lower())
    statuses = set()
    for x in traffic.of(method, path):
        assert_valid(schema, x.response_json, f"{method} {path} response")
        statuses |= {r["status"] for r in x.response_json["results"]}
    assert statuses == {"success", "failure"}, "scenario covers both outcomes"


def test_sandbox_get_rmas_detail_matches_spec(traffic: Traffic) -> None:
    """DEVIATION: the schema says a bare array; the spec example, the release notes and the
    gem (which reads ``.data``) show an object ``{search_criteria, limit, offset, list_type,
    data}``. The envelope keys are checked here and each ``data[]`` item against the array's
    item schema (with the carrier statuses, see :func:`relax_rma_status`)."""
    declared = response_schema("/rmas", "get")
    item = relax_rma_status(declared["oneOf"][0]["items"])
    pages = [x for x in traffic.of("GET", "/rmas") if x.response_json["list_type"] == "detail"]
    statuses = set()
    for x in pages:
        body = x.response_json
        assert set(body) >= {"search_criteria", "limit", "offset", "list_type", "data"}
        for rec in body["data"]:
            assert_valid(item, rec, "GET /rmas data item")
            statuses.add(rec["status"])
    assert {"open", "received", "in-receiving", "tendered", "deleted"} <= statuses


def test_sandbox_get_rmas_summary_matches_spec(traffic: Traffic) -> None:
    """Summary items follow ``components.schemas.return_summary.returns[]``.

    DEVIATION: that schema requires ``customer_order_id``, ``return_package_id`` and
    ``processed_at`` without allowing null, yet an open RMA has no processing date and a line
    need not name an order; the sandbox omits unknown values, so only those three are relaxed.
    """
    item = component_schema("return_summary")["properties"]["returns"]["items"]
    item["required"] = [
        r
        for r in item["required"]
        if r not in ("customer_order_id", "return_package_id", "processed_at")
    ]
    item["properties"]["return_status"]["enum"] += CARRIER_AND_DOCK_STATUSES
    pages = [x for x in traffic.of("GET", "/rmas") if x.response_json["list_type"] == "summary"]
    for x in pages:
        for rec in x.response_json["data"]:
            assert_valid(item, rec, "GET /rmas summary item")


def test_sandbox_callback_responses_match_spec(traffic: Traffic) -> None:
    """GET /callbacks matches its schema as is. DEVIATION for POST: its schema is (an array
    of) the records envelope, its example a bare array of ``{id, status, messages[]}``; the
    sandbox answers one records envelope (what GEM and production clients read), so the
    counts are checked against the envelope's and each result as a ``callback`` component plus
    status and text messages."""
    for x in traffic.of("GET", "/callbacks"):
        assert_valid(response_schema("/callbacks", "get"), x.response_json, "GET /callbacks")
    envelope = response_schema("/callbacks", "post")["items"]
    counts = {k: v for k, v in envelope["properties"].items() if k.startswith("records_")}
    reply_item = component_schema("callback")
    reply_item["required"] = ["id", "url", "message_type", "api_version", "status", "messages"]
    reply_item["properties"]["status"] = {"enum": ["success", "failure"]}
    reply_item["properties"]["messages"] = {"type": "array", "items": {"type": "string"}}
    posts = traffic.of("POST", "/callbacks")
    assert posts
    for x in posts:
        reply = x.response_json
        assert isinstance(reply, dict)
        assert_valid(
            {"type": "object", "required": sorted(counts), "properties": counts},
            reply,
            "POST /callbacks envelope",
        )
        assert reply["records_submitted"] == len(x.request_json) == len(reply["results"])
        assert reply["records_succeeded"] + reply["records_failed"] == reply["records_submitted"]
        for item in reply["results"]:
            assert_valid(reply_item, item, "POST /callbacks reply item")
    for x in traffic.of("DELETE", "/callbacks"):
        assert x.response_json == examples("/callbacks", "delete", request=False)[0]


def test_sandbox_auth_errors_match_spec(traffic: Traffic) -> None:
    for path in ("/rmas", "/callbacks"):
        (x,) = traffic.of("GET", path, status=401)
        assert_valid(response_schema(path, "get", "401"), x.response_json, f"401 {path}")
        assert isinstance(x.response_json["message"], str)


# --- callbacks the sandbox emits --------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_sandbox_rma_event_callbacks_match_spec(traffic: Traffic, version: str) -> None:
    calls = traffic.callbacks_of(version)
    names = set()
    for call in calls:
        as_array = isinstance(call.body, list)
        schema = rma_event_schema(version, as_array=as_array)
        assert_valid(schema, call.body, f"rmaEvent {version} callback")
        for env in call.body if as_array else [call.body]:
            assert env["api_version"] == version and env["message_type"] == "rmaEvent"
            item = env["data"][0]
            names.add(item.get("event_type") or item.get("status"))
    assert {isinstance(c.body, list) for c in calls} == {True, False}, "both envelope forms"
    assert len(names) >= 5


def test_derived_v2_schema_accepts_the_spec_examples() -> None:
    """The hand-derived 2.0 schema must accept MasonHub's own 2.0 examples, once their one
    flaw is fixed: an empty ``customer_address_street_line_two`` (the field's minimum is 1)."""
    checked = 0
    for example in examples("/rmaEvent", "post"):
        if example["api_version"] != "2.0":
            continue
        fixed = copy.deepcopy(example)
        details = fixed["data"][0].get("details")
        if details is not None and details.get("customer_address_street_line_two") == "":
            del details["customer_address_street_line_two"]
        assert_valid(rma_event_schema("2.0", as_array=False), fixed, "spec 2.0 example")
        checked += 1
    assert checked == 2


# --- guard: the spec errors the workarounds exist for ---------------------------------------


def test_documented_spec_deviations_still_present() -> None:
    """If one of these fails, MasonHub fixed its spec: drop the matching DEVIATION workaround."""
    get_schema = response_schema("/rmas", "get")
    (get_example,) = examples("/rmas", "get", request=False)
    assert errors_of(get_schema, get_example), "GET /rmas schema now accepts the envelope"
    post_schema = response_schema("/rmas", "post")
    (post_example,) = examples("/rmas", "post", request=False)
    assert errors_of(post_schema, post_example), "POST /rmas schema now accepts the envelope"
    assert request_schema("/data_factory/rmaEvent", "post")["items"]["required"] == ["resolution"]
    event_schema = request_schema("/rmaEvent", "post")
    assert all(errors_of(event_schema, e) for e in examples("/rmaEvent", "post"))
