"""Refund rules of the sandbox: parse the §A.8.4 body and check it against the return.

The rules mirror what the bridge relies on: restock must be false, units cannot exceed the
line, a return is refunded once, and an ``Idempotency-Key`` replays the first answer (unless
the ``refund_idempotency=none`` fault turns the last two off).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.returnly.render import LineRecord, ReturnRecord

REFUSED_STATUSES = frozenset({"canceled_by_merchant", "cancelled"})


class RefundRejected(Exception):
    """The refund request cannot be applied; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, detail: str, pointer: str | None = None) -> None:
        self.status = status
        self.detail = detail
        self.pointer = pointer
        super().__init__(detail)


@dataclass(frozen=True)
class RefundRequest:
    """A parsed refund request."""

    rma: str | None
    tracking_number: str | None
    lines: list[tuple[str, int]]
    deduction: Decimal
    note: str | None


def fingerprint(body: Any) -> str:
    """A stable digest of a JSON body, to tell a replay from a different request."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _fail(detail: str, pointer: str) -> RefundRejected:
    return RefundRejected(422, detail, pointer)


def parse_refund_request(body: Any) -> RefundRequest:
    """Check the body's shape; raises :class:`RefundRejected` (422) on any problem."""
    data = body.get("data") if isinstance(body, dict) else None
    attrs = data.get("attributes") if isinstance(data, dict) else None
    if not isinstance(attrs, dict):
        raise _fail("body must be {data: {type: 'refunds', attributes: {...}}}", "/data")
    if data is not None and data.get("type", "refunds") != "refunds":
        raise _fail("data.type must be 'refunds'", "/data/type")
    rma, tracking = attrs.get("rma"), attrs.get("tracking_number")
    if not rma and not tracking:
        raise _fail("give rma or tracking_number", "/data/attributes/rma")
    if "restock" not in attrs or attrs["restock"] is not False:
        raise _fail("restock must be sent as false", "/data/attributes/restock")
    raw_lines = attrs.get("line_items")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise _fail("line_items must be a non-empty list", "/data/attributes/line_items")
    lines: list[tuple[str, int]] = []
    for i, item in enumerate(raw_lines):
        pointer = f"/data/attributes/line_items/{i}"
        if not isinstance(item, dict) or item.get("return_line_item_id") in (None, ""):
            raise _fail("each line needs return_line_item_id", pointer)
        units = item.get("units")
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise _fail("units must be a positive integer", f"{pointer}/units")
        lines.append((str(item["return_line_item_id"]), units))
    try:
        deduction = Decimal(str(attrs.get("deduction_amount", "0.00")))
    except InvalidOperation:
        raise _fail(
            "deduction_amount is not a number", "/data/attributes/deduction_amount"
        ) from None
    if not deduction.is_finite() or deduction < 0:
        raise _fail("deduction_amount must be >= 0", "/data/attributes/deduction_amount")
    note = attrs.get("note")
    return RefundRequest(
        rma=str(rma) if rma else None,
        tracking_number=str(tracking) if tracking else None,
        lines=lines,
        deduction=deduction,
        note=str(note) if note is not None else None,
    )


def check_refund(
    rec: ReturnRecord, req: RefundRequest, *, allow_repeat: bool = False
) -> list[tuple[LineRecord, int]]:
    """Check the request against the return; returns (line, units) picks to refund.

    ``allow_repeat`` (the ``refund_idempotency=none`` fault) accepts a return that is already
    refunded; units are still checked against each line, per request.
    """
    if not allow_repeat and (rec.refunds or rec.status == "refunded"):
        raise RefundRejected(409, f"return {rec.id} is already refunded")
    if rec.status in REFUSED_STATUSES or rec.status == "requested":
        raise RefundRejected(409, f"return {rec.id} is {rec.status} and cannot be refunded")
    by_id = {ln.id: ln for ln in rec.lines}
    wanted: dict[str, int] = {}
    for i, (line_id, units) in enumerate(req.lines):
        if line_id not in by_id:
            raise _fail(
                f"line {line_id} is not on return {rec.id}",
                f"/data/attributes/line_items/{i}/return_line_item_id",
            )
        wanted[line_id] = wanted.get(line_id, 0) + units
    picks = []
    for line_id, units in wanted.items():
        line = by_id[line_id]
        if units > line.units:
            raise _fail(
                f"line {line_id} has {line.units} units, {units} requested",
                "/data/attributes/line_items",
            )
        picks.append((line, units))
    gross = sum((ln.unit_refund * u for ln, u in picks), Decimal("0"))
    if req.deduction > gross:
        raise _fail("deduction_amount exceeds the refund", "/data/attributes/deduction_amount")
    return picks
