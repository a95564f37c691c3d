"""Contract: an empty to-one relationship in each form the real API may have used (§A.2).

The sandbox renders ``instant_refund_voucher`` of a return without a voucher as set by
``PUT /_admin/settings {"empty_to_one": ...}``: left out (``absent``, the default: RES1/RES2
iterate over every relationship's ``data`` and could not have survived ``null``),
``{"data": []}`` (``empty_list``) or ``{"data": null}`` (``null``). The client and the
reconciliation frame must read all three alike, and survive the absence of any §A.3/§A.4
attribute.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pandas as pd  # type: ignore[import-untyped]
import pytest

from clients.returnly import (
    DEFAULT_INCLUDE,
    InstantRefundVoucher,
    InvoiceItem,
    Refund,
    Repurchase,
    Return,
    ReturnLineItem,
    ReturnlyClient,
    ShippingLabel,
    ShopperAddress,
    VoucherRepurchaseDetail,
    parse_returns_document,
)
from core.drift import RETURNLY_LINES, validate_frame
from core.settings import SANDBOX_RETURNLY_TOKEN
from sandbox.returnly.app import create_app
from sandbox.returnly.render import DEFAULT_EMPTY_TO_ONE, EMPTY_TO_ONE_FORMS
from sandbox.returnly.specs import ReturnSpec, VoucherSpec
from sandbox.returnly.store import ReturnlyStore
from sandbox.server import ThreadedServer, serve_in_thread
from stages.reconcile import returns_frame
from tests.contract.returnly_attributes import (
    A3_RETURN,
    A3_SHOPPER_ADDRESS,
    A4_INCLUDED,
    A4_VOUCHER_REPURCHASE_DETAIL,
    FULL_RETURN_SPEC,
)
from tests.contract.test_returnly_contract import assert_jsonapi

pytestmark = pytest.mark.integration

HEADERS = {"X-Api-Token": SANDBOX_RETURNLY_TOKEN, "X-Api-Version": "2020-08"}
VOUCHER = "instant_refund_voucher"
TO_MANY = ("return_line_items", "shipping_labels", "refunds", "repurchases", "invoice_items")
FORMS = pytest.mark.parametrize("form", EMPTY_TO_ONE_FORMS)
EXPECTED_EMPTY: dict[str, Any] = {"empty_list": {"data": []}, "null": {"data": None}}
"""How the voucher relationship of a return without one looks (``absent``: not there)."""


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with serve_in_thread(create_app()) as srv:
        yield srv


@pytest.fixture
def admin(server: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        client.post("/_admin/reset").raise_for_status()
        yield client


@pytest.fixture
def http(server: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as client:
        yield client


@pytest.fixture
def planted(admin: httpx.Client) -> dict[str, str]:
    """Five returns, in list order: plain, full (voucher etc.), plain, voucher only, refunded."""
    ids = {}
    for name, spec in [
        ("plain", {"created_at": "2024-03-01T00:00:00Z"}),
        ("full", FULL_RETURN_SPEC),
        ("labelled", {"created_at": "2024-03-03T00:00:00Z", "labels": [{}]}),
        (
            "voucher",
            {"created_at": "2024-03-04T00:00:00Z", "voucher": {"credit_issued_amount": "9.50"}},
        ),
        (
            "refunded",
            {"created_at": "2024-03-05T00:00:00Z", "status": "refunded", "refunds": [{}]},
        ),
    ]:
        reply = admin.post("/_admin/returns", json=spec)
        reply.raise_for_status()
        ids[name] = reply.json()["id"]
    return ids


def set_form(admin: httpx.Client, form: str) -> None:
    reply = admin.put("/_admin/settings", json={"empty_to_one": form})
    reply.raise_for_status()
    assert reply.json() == {"empty_to_one": form}


def assert_voucher_relationship(resource: dict[str, Any], has_voucher: bool, form: str) -> None:
    """The to-one in the configured form; the to-many always ``{"data": [...]}``."""
    rels = resource["relationships"]
    for name in TO_MANY:
        assert isinstance(rels[name]["data"], list)
    if has_voucher:
        assert rels[VOUCHER]["data"] == {"type": VOUCHER, "id": rels[VOUCHER]["data"]["id"]}
    elif form == "absent":
        assert VOUCHER not in rels
    else:
        assert rels[VOUCHER] == EXPECTED_EMPTY[form]


# --- the admin setting -------------------------------------------------------------------------


def test_setting_defaults_to_absent_and_reset_restores_it(admin: httpx.Client) -> None:
    assert DEFAULT_EMPTY_TO_ONE == "absent"
    assert admin.get("/_admin/settings").json() == {"empty_to_one": "absent"}

    set_form(admin, "null")
    assert admin.get("/_admin/settings").json() == {"empty_to_one": "null"}
    admin.post("/_admin/reset").raise_for_status()

    assert admin.get("/_admin/settings").json() == {"empty_to_one": "absent"}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"empty_to_one": "[]"}, id="not-a-form"),
        pytest.param({"empty_to_one": None}, id="null-value"),
        pytest.param({"voucher_form": "null"}, id="unknown-setting"),
    ],
)
def test_setting_refuses_what_it_does_not_know(admin: httpx.Client, body: dict[str, Any]) -> None:
    set_form(admin, "empty_list")

    reply = admin.put("/_admin/settings", json=body)

    assert reply.status_code == 400
    assert reply.json()["errors"][0]["detail"].startswith("bad settings")
    assert admin.get("/_admin/settings").json() == {"empty_to_one": "empty_list"}


# --- what the sandbox renders ------------------------------------------------------------------


@FORMS
def test_list_renders_the_configured_form(
    admin: httpx.Client, http: httpx.Client, planted: dict[str, str], form: str
) -> None:
    set_form(admin, form)
    with_voucher = {planted["full"], planted["voucher"]}

    for include in (DEFAULT_INCLUDE, ("return_line_items",), ()):
        params = {"include": ",".join(include)} if include else {}
        document = http.get("/returns.json", params=params).json()
        assert_jsonapi(document)
        assert [d["id"] for d in document["data"]] == list(planted.values())
        for resource in document["data"]:
            assert_voucher_relationship(resource, resource["id"] in with_voucher, form)


@FORMS
def test_single_return_and_status_change_render_the_configured_form(
    admin: httpx.Client, http: httpx.Client, planted: dict[str, str], form: str
) -> None:
    set_form(admin, form)
    for name in ("plain", "voucher"):
        rid = planted[name]
        single = http.get(f"/returns/{rid}.json", params={"include": VOUCHER}).json()
        changed = admin.post(f"/_admin/returns/{rid}/status", json={"status": "ship"}).json()
        for document in (single, changed):
            assert_jsonapi(document)
            assert_voucher_relationship(document["data"], name == "voucher", form)


@FORMS
def test_webhook_documents_render_the_configured_form(form: str) -> None:
    store = ReturnlyStore()
    store.settings = store.settings.model_copy(update={"empty_to_one": form})
    events: list[tuple[str, dict[str, Any]]] = []
    store.listener = lambda event, document: events.append((event, document))
    bare, voucher = store.add_returns(
        [ReturnSpec(), ReturnSpec(voucher=VoucherSpec(credit_issued_amount=Decimal(5)))]
    )

    store.set_status(bare.id, "in_transit")
    store.set_status(voucher.id, "in_transit")

    assert [event for event, _ in events] == ["return.in_transit"] * 2
    assert_voucher_relationship(events[0][1]["data"], False, form)
    assert_voucher_relationship(events[1][1]["data"], True, form)
    store.reset()
    assert store.settings.empty_to_one == "absent"


def test_changing_the_form_re_renders_cached_returns(
    admin: httpx.Client, http: httpx.Client, planted: dict[str, str]
) -> None:
    seen = []
    for form in (*EMPTY_TO_ONE_FORMS, "absent"):
        set_form(admin, form)
        resource = http.get(f"/returns/{planted['plain']}.json").json()["data"]
        seen.append(resource["relationships"].get(VOUCHER, "-"))
    assert seen == ["-", {"data": []}, {"data": None}, "-"]


def _foreign_keys_like_res1(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """RES1's relationship walk, restated: skip a missing relationship or an empty ``data``
    (by its length), then take a list item by item or a single identifier as is."""
    keys = []
    for ret in document["data"]:
        rels = ret.get("relationships", {})
        for name in ("return_line_items", "refunds", VOUCHER, "repurchases", "invoice_items"):
            if name not in rels or len(rels[name]["data"]) == 0:
                continue
            data = rels[name]["data"]
            for ref in data if isinstance(data, list) else [data]:
                keys.append((ret["id"], ref["type"], ref["id"]))
    return keys


def _foreign_keys_like_res2(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """RES2's walk, restated: every relationship, a single identifier wrapped in a list."""
    keys = []
    for ret in document.get("data", []):
        for rel in ret.get("relationships", {}).values():
            data = rel["data"]
            for ref in [data] if isinstance(data, dict) else data:
                keys.append((ret["id"], ref["type"], ref["id"]))
    return keys


@FORMS
def test_production_clients_survive_only_the_forms_other_than_null(
    admin: httpx.Client, http: httpx.Client, planted: dict[str, str], form: str
) -> None:
    """Why ``absent`` is the default: RES1 and RES2 ran for years against every return, and
    both fail on ``{"data": null}``; they are indifferent to ``absent`` and ``[]``."""
    set_form(admin, form)
    document = http.get("/returns.json", params={"include": ",".join(DEFAULT_INCLUDE)}).json()

    if form == "null":
        with pytest.raises(TypeError):
            _foreign_keys_like_res1(document)
        with pytest.raises(TypeError):
            _foreign_keys_like_res2(document)
        return
    vouchers = {(rid, type_) for rid, type_, _ in _foreign_keys_like_res1(document)}
    assert {rid for rid, type_ in vouchers if type_ == VOUCHER} == {
        planted["full"],
        planted["voucher"],
    }
    assert _foreign_keys_like_res2(document)


# --- what the client reads ---------------------------------------------------------------------


def _summary(ret: Return) -> tuple[Any, ...]:
    voucher = ret.instant_refund_voucher
    return (
        ret.id,
        ret.status,
        [(li.sku, li.units) for li in ret.line_items],
        ret.tracking_numbers,
        [r.refund_amount for r in ret.refunds],
        None if voucher is None else (voucher.credit_issued_amount, voucher.ext_voucher_id),
        [(rp.total_order_amount, len(rp.voucher_repurchase_details)) for rp in ret.repurchases],
        [ii.invoice_type for ii in ret.invoice_items],
    )


@FORMS
def test_client_parses_every_page_in_each_form(
    admin: httpx.Client,
    server: ThreadedServer,
    planted: dict[str, str],
    form: str,
) -> None:
    set_form(admin, form)

    with ReturnlyClient(
        base_url=server.url, api_token=SANDBOX_RETURNLY_TOKEN, page_size=2
    ) as client:
        returns = client.list_returns()
        narrow = client.list_returns(include=("return_line_items", "refunds"))

    by_id = {r.id: _summary(r) for r in returns}
    assert list(by_id) == list(planted.values())
    full = by_id[planted["full"]]
    assert full[2] == [("TEE-BLACK-M", 2), ("TEE-BLACK-S", 1)]
    assert full[4] == [Decimal("90.48")]
    assert full[5] is not None and full[5][0] == Decimal("25.00")
    assert full[6] == [(Decimal("40.00"), 1)] and full[7] == ["repurchase_fee"]
    assert by_id[planted["voucher"]][5][0] == Decimal("9.50")
    assert by_id[planted["voucher"]][5][1].startswith("gc_")
    for name in ("plain", "labelled", "refunded"):
        assert by_id[planted[name]][5] is None
        assert by_id[planted[name]][6:] == ([], [])
    assert len(by_id[planted["labelled"]][3]) == 1
    assert by_id[planted["refunded"]][4] == [Decimal("28.00")]
    assert all(r.instant_refund_voucher is None for r in narrow)
    assert [r.line_items for r in narrow] == [r.line_items for r in returns]


@FORMS
def test_forms_parse_identically_and_build_the_same_frame(
    admin: httpx.Client, http: httpx.Client, planted: dict[str, str], form: str
) -> None:
    params = {"include": ",".join(DEFAULT_INCLUDE)}
    set_form(admin, "absent")
    reference = parse_returns_document(http.get("/returns.json", params=params).json())
    set_form(admin, form)
    document = http.get("/returns.json", params=params).json()

    returns = parse_returns_document(document)

    assert [r.model_dump() for r in returns] == [r.model_dump() for r in reference]
    frame = returns_frame("acme", returns)
    validate_frame(frame, RETURNLY_LINES, "returnly")
    pd.testing.assert_frame_equal(frame, returns_frame("acme", reference))
    full = frame[frame["return_id"] == planted["full"]]
    assert full["units_refunded"].tolist() == [2, 1]
    assert full["refund_amount"].tolist() == pytest.approx([60.48, 30.0])


# --- hand-made variations of the same page -----------------------------------------------------

IDENT = {"type": VOUCHER, "id": "77"}
LINE = {"type": "return_line_items", "id": "9"}


def _page(relationships: Any) -> dict[str, Any]:
    return {
        "data": [
            {
                "type": "returns",
                "id": "1",
                "attributes": {
                    "rma": "R1",
                    "status": "authorized",
                    "created_at": "2024-01-01T00:00:00Z",
                    "updated_at": "2024-01-01T00:00:00Z",
                },
                "relationships": relationships,
            }
        ],
        "included": [
            {"type": "return_line_items", "id": "9", "attributes": {"sku": "A", "units": 2}},
            {"type": VOUCHER, "id": "77", "attributes": {"credit_issued_amount": "5.00"}},
        ],
    }


@pytest.mark.parametrize(
    ("voucher", "expected"),
    [
        pytest.param(..., None, id="absent"),
        pytest.param({"data": []}, None, id="empty-list"),
        pytest.param({"data": None}, None, id="null-data"),
        pytest.param(None, None, id="bare-null"),
        pytest.param([], None, id="bare-list"),
        pytest.param({}, None, id="no-data"),
        pytest.param({"links": {"related": "https://x.test/v"}}, None, id="links-only"),
        pytest.param({"data": {"type": VOUCHER, "id": "404"}}, None, id="not-included"),
        pytest.param({"data": {"id": "77"}}, None, id="no-type"),
        pytest.param({"data": IDENT}, Decimal("5.00"), id="identifier"),
        pytest.param({"data": {"type": VOUCHER, "id": 77}}, Decimal("5.00"), id="numeric-id"),
        pytest.param({"data": [IDENT]}, Decimal("5.00"), id="list-of-one"),
        pytest.param({"data": ["junk", IDENT]}, Decimal("5.00"), id="list-with-junk"),
    ],
)
def test_client_reads_every_form_of_the_to_one(voucher: Any, expected: Decimal | None) -> None:
    relationships: dict[str, Any] = {"return_line_items": {"data": [LINE]}}
    if voucher is not ...:
        relationships[VOUCHER] = voucher

    (ret,) = parse_returns_document(_page(relationships))

    found = ret.instant_refund_voucher
    assert (found.credit_issued_amount if found else None) == expected
    assert [(li.id, li.units) for li in ret.line_items] == [("9", 2)]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param(..., [], id="absent"),
        pytest.param({"data": []}, [], id="empty-list"),
        pytest.param({"data": None}, [], id="null-data"),
        pytest.param(None, [], id="bare-null"),
        pytest.param({"data": LINE}, ["9"], id="single-identifier"),
        pytest.param({"data": [LINE, {"id": "9"}, None, 5]}, ["9"], id="malformed-refs"),
        pytest.param({"data": [{"type": "return_line_items", "id": 9}]}, ["9"], id="numeric-id"),
    ],
)
def test_client_reads_every_form_of_a_to_many(lines: Any, expected: list[str]) -> None:
    relationships: dict[str, Any] = {VOUCHER: {"data": IDENT}}
    if lines is not ...:
        relationships["return_line_items"] = lines

    (ret,) = parse_returns_document(_page(relationships))

    assert [li.id for li in ret.line_items] == expected
    assert ret.instant_refund_voucher is not None


@pytest.mark.parametrize("relationships", [..., None, {}, []], ids=str)
def test_client_reads_a_return_without_relationships(relationships: Any) -> None:
    page = _page(relationships)
    if relationships is ...:
        del page["data"][0]["relationships"]

    (ret,) = parse_returns_document(page)

    assert ret.line_items == [] and ret.instant_refund_voucher is None


# --- every attribute may be missing ------------------------------------------------------------

MODELS: dict[str, type[Any]] = {
    "returns": Return,
    "return_line_items": ReturnLineItem,
    "shipping_labels": ShippingLabel,
    "refunds": Refund,
    VOUCHER: InstantRefundVoucher,
    "repurchases": Repurchase,
    "invoice_items": InvoiceItem,
}
ATTRIBUTES = [("returns", name) for name in A3_RETURN]
ATTRIBUTES += [("returns", f"shopper_address.{name}") for name in A3_SHOPPER_ADDRESS]
ATTRIBUTES += [(t, name) for t, names in A4_INCLUDED.items() for name in names]
ATTRIBUTES += [
    ("repurchases", f"voucher_repurchase_details.{name}") for name in A4_VOUCHER_REPURCHASE_DETAIL
]
ON_RETURN = {  # where each included type's records land on a Return
    "return_line_items": "line_items",
    "shipping_labels": "shipping_labels",
    "refunds": "refunds",
    VOUCHER: VOUCHER,
    "repurchases": "repurchases",
    "invoice_items": "invoice_items",
}
FRAME_INPUTS = {
    ("returns", name)
    for name in ("rma", "status", "created_at", "updated_at", "refunded_at", "refund_amount")
} | {
    ("return_line_items", "sku"),
    ("return_line_items", "units"),
    ("return_line_items", "estimated_refund_amount"),
    ("refunds", "refund_amount"),
    ("refunds", "created_at"),
}
"""Attributes the ``RETURNLY_LINES`` frame is built from; any other may go without a trace."""


def test_client_models_type_every_documented_attribute() -> None:
    for type_, name in ATTRIBUTES:
        outer, _, inner = name.partition(".")
        assert outer in MODELS[type_].model_fields, (type_, outer)
        if inner:
            nested = ShopperAddress if type_ == "returns" else VoucherRepurchaseDetail
            assert inner in nested.model_fields, (type_, name)


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    """A page of varied returns in each form, as the sandbox renders it."""
    app = create_app(seed_count=12, seed=7)
    with serve_in_thread(app) as srv, httpx.Client(base_url=srv.url, timeout=30) as admin:
        admin.post("/_admin/returns", json=FULL_RETURN_SPEC).raise_for_status()
        out: dict[str, dict[str, Any]] = {}
        for form in EMPTY_TO_ONE_FORMS:
            set_form(admin, form)
            params: dict[str, str | int] = {"include": ",".join(DEFAULT_INCLUDE), "page_size": 100}
            out[form] = admin.get("/returns.json", params=params, headers=HEADERS).json()
    return out


def _strip(document: dict[str, Any], type_: str, name: str) -> int:
    """Remove one attribute from every record of ``type_``; answers how many lost it."""
    outer, _, inner = name.partition(".")
    removed = 0
    for res in [*document["data"], *document["included"]]:
        if res["type"] != type_:
            continue
        attrs = res["attributes"]
        targets = [attrs]
        if inner:
            value = attrs.get(outer)
            targets = value if isinstance(value, list) else [value] if value else []
        for target in targets:
            key = inner or outer
            if key in target:
                del target[key]
                removed += 1
    return removed


def _expected(dump: dict[str, Any], type_: str, name: str) -> dict[str, Any]:
    """The reference parse with ``name`` read as missing on every record of ``type_``."""
    out = copy.deepcopy(dump)
    outer, _, inner = name.partition(".")
    if type_ == "returns":
        records = [out]
    else:
        found = out[ON_RETURN[type_]]
        records = found if isinstance(found, list) else [found] if found else []
    for record in records:
        if inner:
            value = record[outer]
            for nested in value if isinstance(value, list) else [value] if value else []:
                nested[inner] = None
        elif (type_, outer) == ("returns", "created_at"):
            record["created_at"] = record["updated_at"]
        elif (type_, outer) == ("returns", "updated_at"):
            record["updated_at"] = record["created_at"]
        else:
            field = MODELS[type_].model_fields[outer]
            record[outer] = field.get_default(call_default_factory=True)
    return out


@FORMS
@pytest.mark.parametrize(("type_", "name"), ATTRIBUTES, ids=[f"{t}.{n}" for t, n in ATTRIBUTES])
def test_a_missing_attribute_loses_nothing_else(
    documents: dict[str, dict[str, Any]], form: str, type_: str, name: str
) -> None:
    reference = parse_returns_document(documents[form])
    stripped = copy.deepcopy(documents[form])
    assert _strip(stripped, type_, name) > 0

    returns = parse_returns_document(stripped)

    assert [r.id for r in returns] == [r.id for r in reference]
    for got, ref in zip(returns, reference, strict=True):
        assert got.model_dump() == _expected(ref.model_dump(), type_, name)
    frame = returns_frame("acme", returns)
    validate_frame(frame, RETURNLY_LINES, "returnly")
    before = returns_frame("acme", reference)
    assert frame["customer_identifier"].tolist() == before["customer_identifier"].tolist()
    if (type_, name) not in FRAME_INPUTS:
        pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize(
    ("name", "column", "expected"),
    [
        pytest.param("rma", "rma", lambda f: [""] * len(f), id="rma-blank"),
        pytest.param("status", "status", lambda f: [""] * len(f), id="status-blank"),
        pytest.param("created_at", "created_at", lambda f: f["updated_at"].tolist(), id="created"),
        pytest.param("updated_at", "updated_at", lambda f: f["created_at"].tolist(), id="updated"),
    ],
)
def test_missing_key_attributes_degrade_without_failing_the_page(
    documents: dict[str, dict[str, Any]], name: str, column: str, expected: Any
) -> None:
    stripped = copy.deepcopy(documents["absent"])
    _strip(stripped, "returns", name)

    returns = parse_returns_document(stripped)

    frame = returns_frame("acme", returns)
    assert frame[column].tolist() == expected(frame)
    assert len(returns) == len(documents["absent"]["data"])
    if name == "status":
        assert not any(r.is_actionable for r in returns)


def test_a_return_without_either_timestamp_is_refused(
    documents: dict[str, dict[str, Any]],
) -> None:
    stripped = copy.deepcopy(documents["absent"])
    _strip(stripped, "returns", "created_at")
    _strip(stripped, "returns", "updated_at")

    with pytest.raises(ValueError, match="created_at"):
        parse_returns_document(stripped)
