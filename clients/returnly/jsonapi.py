"""JSON:API documents -> models: flatten resources and resolve ``included`` via relationships.

This is the client's hot path (a page is ~100 returns and ~400 included records), hence the
plain ``dict`` checks, one pydantic call per included type and one for all returns of a page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, TypeAdapter

from clients.returnly.models import (
    InstantRefundVoucher,
    InvoiceItem,
    Refund,
    Repurchase,
    Return,
    ReturnLineItem,
    ShippingLabel,
    WebhookSubscription,
)

_INCLUDED_MODELS: dict[str, type[BaseModel]] = {
    "return_line_items": ReturnLineItem,
    "shipping_labels": ShippingLabel,
    "refunds": Refund,
    "instant_refund_voucher": InstantRefundVoucher,
    "instant_refund_vouchers": InstantRefundVoucher,
    "repurchases": Repurchase,
    "invoice_items": InvoiceItem,
}
"""Included ``type`` -> model; other types are ignored."""
_LIST_RELATIONSHIPS: dict[str, str] = {
    "return_line_items": "line_items",
    "line_items": "line_items",
    "shipping_labels": "shipping_labels",
    "refunds": "refunds",
    "repurchases": "repurchases",
    "invoice_items": "invoice_items",
}
"""Relationship name -> list field of :class:`Return`."""
_SINGLE_RELATIONSHIPS: dict[str, str] = {
    "instant_refund_voucher": "instant_refund_voucher",
    "instant_refund_vouchers": "instant_refund_voucher",
}
"""Relationship name -> single field of :class:`Return`.

An empty to-one relationship may be left out, ``{"data": []}`` or ``{"data": null}`` (the
sandbox renders each; production most plausibly left it out). All three resolve to ``None``,
and a to-one sent as a list of identifiers resolves to its first included record."""


def _list_adapter(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


_ADAPTERS = {model: _list_adapter(model) for model in set(_INCLUDED_MODELS.values())}
_RETURNS = TypeAdapter(list[Return])
Index = dict[tuple[str, str], Any]


def _lookup(index: Index, ref: Any) -> Any:
    """The included record a resource identifier points at; ``None`` for anything else."""
    if type(ref) is not dict:
        return None
    type_, rid = ref.get("type"), ref.get("id")
    if type(type_) is not str or rid is None:
        return None
    return index.get((type_, rid if type(rid) is str else str(rid)))


def _flat(resource: dict[str, Any], consume: bool = False) -> dict[str, Any]:
    """``{id, attributes{...}}`` -> ``{id, ...}``; the resource id wins over an attribute.

    With ``consume`` the attributes dict itself is reused (the caller owns the document).
    """
    attrs = resource.get("attributes")
    if not attrs:
        return {"id": resource["id"]}
    if consume and type(attrs) is dict:
        attrs["id"] = resource["id"]
        return attrs
    return {**attrs, "id": resource["id"]}


def index_included(included: list[dict[str, Any]] | None, consume: bool = False) -> Index:
    """Validate each included record once, keyed by ``(type, id)``; unknown types are skipped.

    Records are validated one list per type, so pydantic is entered a handful of times per
    page rather than once per record.
    """
    groups: dict[str, tuple[list[tuple[str, str]], list[dict[str, Any]]]] = {}
    for item in included or ():
        type_ = item.get("type")
        if type_ not in _INCLUDED_MODELS:
            continue
        group = groups.get(type_)
        if group is None:
            group = groups[type_] = ([], [])
        rid = item["id"]
        group[0].append((type_, rid if type(rid) is str else str(rid)))
        group[1].append(_flat(item, consume))
    index: Index = {}
    for type_, (keys, flats) in groups.items():
        models = _ADAPTERS[_INCLUDED_MODELS[type_]].validate_python(flats)
        index.update(zip(keys, models, strict=True))
    return index


def _resolve(resource: dict[str, Any], index: Index, consume: bool) -> dict[str, Any]:
    """Flatten one return and attach its included records, following ``relationships``.

    Nothing about a relationship's form can fail the page: an absent relationship, a bare
    ``null``, ``{"data": null}``, ``{"data": []}`` and a missing ``data`` all mean "none"; a
    to-many sent as one identifier is read as a list of one, a to-one sent as a list as its
    first record; identifiers that are malformed or not included are skipped.
    """
    out = _flat(resource, consume)
    rels = resource.get("relationships")
    if not rels or type(rels) is not dict:
        return out
    get = index.get
    for name, rel in rels.items():
        data = rel.get("data") if type(rel) is dict else None
        if not data:
            continue  # absent, null or [] (most relationships of most returns)
        field = _LIST_RELATIONSHIPS.get(name)
        if field is not None:
            if type(data) is not list:
                data = [data]
            found = []
            for ref in data:
                try:
                    rid = ref["id"]
                    obj = get((ref["type"], rid if type(rid) is str else str(rid)))
                except (KeyError, TypeError):
                    obj = _lookup(index, ref)
                if obj is not None:
                    found.append(obj)
            out[field] = found
            continue
        field = _SINGLE_RELATIONSHIPS.get(name)
        if field is None:
            continue
        refs = data if type(data) is list else (data,)
        out[field] = next((obj for ref in refs if (obj := _lookup(index, ref)) is not None), None)
    return out


def _as_dict(document: Mapping[str, Any]) -> dict[str, Any]:
    return document if type(document) is dict else dict(document)


def parse_returns_document(document: Mapping[str, Any], *, consume: bool = False) -> list[Return]:
    """Parse a JSON:API list (or single) document into returns with ``included`` resolved.

    ``included`` may be absent; relationships then resolve to nothing and the lists stay
    empty. The document is left as it was unless ``consume`` says it may be reused (the
    client does so with the pages it has just parsed, saving a copy of every record).
    """
    doc = _as_dict(document)
    data = doc.get("data")
    if data is None:
        return []
    items = data if type(data) is list else [data]
    index = index_included(doc.get("included"), consume)
    return _RETURNS.validate_python([_resolve(item, index, consume) for item in items])


def parse_return_document(document: Mapping[str, Any]) -> Return:
    """Parse a single-return JSON:API document (``GET /returns/{id}.json``, webhook data)."""
    returns = parse_returns_document(document)
    if len(returns) != 1:
        raise ValueError(f"expected one return in the document, got {len(returns)}")
    return returns[0]


def parse_refund_document(document: Mapping[str, Any]) -> Refund:
    """Parse the answer to a refund POST: one ``refunds`` resource, linked to its return."""
    data = _as_dict(document).get("data")
    if type(data) is not dict:
        raise ValueError("refund document has no single 'data' object")
    flat = _flat(data)
    rel = (data.get("relationships") or {}).get("return") or {}
    ref = rel.get("data") if type(rel) is dict else None
    if type(ref) is dict and ref.get("id") is not None:
        flat["return_id"] = str(ref["id"])
    return Refund.model_validate(flat)


def parse_webhook_document(document: Mapping[str, Any]) -> list[WebhookSubscription]:
    """Parse one or many ``webhooks`` resources."""
    data = _as_dict(document).get("data")
    if data is None:
        return []
    items = data if type(data) is list else [data]
    return [WebhookSubscription.model_validate(_flat(item)) for item in items]
