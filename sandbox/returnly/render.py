"""JSON:API rendering of stored returns: resource objects, ``included`` and whole documents.

Each return caches its resource object until it (or the empty to-one form) changes, so a page of
100 returns costs a few dictionary lookups, not a rebuild.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, get_args

Resource = dict[str, Any]

LINE_TYPE = "return_line_items"
LABEL_TYPE = "shipping_labels"
REFUND_TYPE = "refunds"
VOUCHER_TYPE = "instant_refund_voucher"
REPURCHASE_TYPE = "repurchases"
INVOICE_TYPE = "invoice_items"
INCLUDABLE: tuple[str, ...] = (
    LINE_TYPE,
    LABEL_TYPE,
    REFUND_TYPE,
    VOUCHER_TYPE,
    REPURCHASE_TYPE,
    INVOICE_TYPE,
)
"""Relationship names, which are also the ``include=`` values and the included ``type``s."""

EmptyToOne = Literal["absent", "empty_list", "null"]
"""How a to-one relationship without a record is rendered: left out of ``relationships``
(``absent``), ``{"data": []}`` (``empty_list``) or ``{"data": null}`` (``null``)."""
EMPTY_TO_ONE_FORMS: tuple[EmptyToOne, ...] = get_args(EmptyToOne)
DEFAULT_EMPTY_TO_ONE: EmptyToOne = "absent"
"""Production clients (contracts RES1, RES2) iterated over every relationship's ``data`` and
crash on ``null``; RES1 explicitly skips relationships a return "does not have". So Returnly
most plausibly left an empty to-one relationship out, which JSON:API also allows."""


def iso(value: datetime) -> str:
    """UTC ISO 8601 with a ``Z``, microseconds kept so watermarks compare exactly."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


_CENT = Decimal("0.01")


def money(value: Decimal) -> str:
    """Amounts go out as strings with two decimals, like the TS interfaces type them."""
    return str(value.quantize(_CENT))


def resource(type_: str, id_: str, attributes: dict[str, Any]) -> Resource:
    """A JSON:API resource object without relationships."""
    return {"type": type_, "id": id_, "attributes": attributes}


@dataclass
class LineRecord:
    """A stored return line: its rendered resource plus what refund rules need."""

    id: str
    units: int
    unit_refund: Decimal
    resource: Resource


@dataclass
class ReturnRecord:
    """A stored return; ``attributes`` is the wire form, the rest are related records."""

    id: str
    updated_at: datetime
    attributes: dict[str, Any]
    lines: list[LineRecord]
    labels: list[Resource] = field(default_factory=list)
    refunds: list[Resource] = field(default_factory=list)
    voucher: Resource | None = None
    repurchases: list[Resource] = field(default_factory=list)
    invoice_items: list[Resource] = field(default_factory=list)
    _resource: Resource | None = None
    _resource_form: EmptyToOne | None = None

    @property
    def key(self) -> tuple[datetime, int, str]:
        """Position in the list order: updated_at, then numeric id."""
        return (self.updated_at, int(self.id), self.id)

    @property
    def status(self) -> str:
        """The current status (opaque string)."""
        return str(self.attributes["status"])

    def touch(self) -> None:
        """Forget the cached resource after a change."""
        self._resource = None

    def related(self, type_: str) -> list[Resource]:
        """Included records of one type."""
        if type_ == LINE_TYPE:
            return [ln.resource for ln in self.lines]
        if type_ == VOUCHER_TYPE:
            return [self.voucher] if self.voucher is not None else []
        return {
            LABEL_TYPE: self.labels,
            REFUND_TYPE: self.refunds,
            REPURCHASE_TYPE: self.repurchases,
            INVOICE_TYPE: self.invoice_items,
        }[type_]

    def as_resource(self, empty_to_one: EmptyToOne = DEFAULT_EMPTY_TO_ONE) -> Resource:
        """The return as a JSON:API resource with relationship linkage.

        To-many relationships are always there (``{"data": []}`` when empty). The to-one
        ``instant_refund_voucher`` is ``{"data": {type, id}}`` when the return has a voucher,
        and otherwise rendered as ``empty_to_one`` says (see :data:`EmptyToOne`).
        """
        if self._resource is None or self._resource_form != empty_to_one:

            def refs(items: Iterable[Resource]) -> dict[str, Any]:
                return {"data": [{"type": r["type"], "id": r["id"]} for r in items]}

            voucher = self.voucher
            relationships: dict[str, Any] = {
                LINE_TYPE: refs(ln.resource for ln in self.lines),
                LABEL_TYPE: refs(self.labels),
                REFUND_TYPE: refs(self.refunds),
            }
            if voucher is not None:
                relationships[VOUCHER_TYPE] = {
                    "data": {"type": voucher["type"], "id": voucher["id"]}
                }
            elif empty_to_one != "absent":
                relationships[VOUCHER_TYPE] = {"data": [] if empty_to_one == "empty_list" else None}
            relationships[REPURCHASE_TYPE] = refs(self.repurchases)
            relationships[INVOICE_TYPE] = refs(self.invoice_items)
            self._resource = {
                "type": "returns",
                "id": self.id,
                "attributes": self.attributes,
                "relationships": relationships,
            }
            self._resource_form = empty_to_one
        return self._resource


def included_for(records: Sequence[ReturnRecord], include: Sequence[str]) -> list[Resource]:
    """The ``included`` array: requested types only, each record once."""
    out: list[Resource] = []
    seen: set[tuple[str, str]] = set()
    for rec in records:
        for type_ in include:
            for item in rec.related(type_):
                key = (item["type"], item["id"])
                if key not in seen:
                    seen.add(key)
                    out.append(item)
    return out


def return_document(
    record: ReturnRecord,
    include: Sequence[str] = INCLUDABLE,
    empty_to_one: EmptyToOne = DEFAULT_EMPTY_TO_ONE,
) -> Resource:
    """The single-return document (also the ``data`` of a webhook)."""
    doc: Resource = {"data": record.as_resource(empty_to_one)}
    if include:
        doc["included"] = included_for([record], include)
    return doc


def error_document(status: int, title: str, detail: str, pointer: str | None = None) -> Resource:
    """A JSON:API ``errors[]`` document."""
    err: dict[str, Any] = {"status": str(status), "title": title, "detail": detail}
    if pointer:
        err["source"] = {"pointer": pointer}
    return {"errors": [err]}
