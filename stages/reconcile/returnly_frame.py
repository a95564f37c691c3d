"""Returnly returns as the ``RETURNLY_LINES`` drift frame (one row per return line).

Refunds are attributed to lines through their line items: units per line, and the amount per
line, the refund's own total winning over the sum of its items (a deduction is taken off the
refund's first line, so the return's total is exactly what Returnly refunded). A refund without
line detail counts as covering every unit, with its amount on the return's first line (the
frame convention for a return-level total). ``unit_price`` is the value the bridge refunds per
unit (:func:`core.refunds.line_amount` over the line's units).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from core.drift import RETURNLY_LINES
from core.mapping import customer_identifier_for
from core.refunds import line_amount
from platforms import Return
from stages.reconcile.rows import Row, Rows


@dataclass(slots=True)
class RefundSplit:
    """One return's refunds attributed to its lines."""

    units: dict[str, int] = field(default_factory=dict)
    amounts: dict[str, float] = field(default_factory=dict)
    every_unit: bool = False
    """A refund without line detail: every unit counts as refunded."""
    unplaced: float = 0.0
    """Money not attributable to a line: goes on the first line."""
    refunded_at: datetime | None = None


def split_refunds(ret: Return) -> RefundSplit:
    """Attribute the return's refunds to its lines (see the module docstring)."""
    out = RefundSplit()
    known = {line.id for line in ret.line_items}
    for refund in ret.refunds:
        if refund.created_at is not None and (
            out.refunded_at is None or refund.created_at > out.refunded_at
        ):
            out.refunded_at = refund.created_at
        total = float(refund.refund_amount) if refund.refund_amount is not None else None
        if not refund.line_items:
            out.every_unit = True
            out.unplaced += total or 0.0
            continue
        placed = 0.0
        first: str | None = None
        for item in refund.line_items:
            line_id = item.return_line_item_id if item.return_line_item_id in known else ""
            first = line_id if first is None else first
            out.units[line_id] = out.units.get(line_id, 0) + item.units
            if item.amount is not None:
                out.amounts[line_id] = out.amounts.get(line_id, 0.0) + float(item.amount)
                placed += float(item.amount)
        if total is not None and first is not None:
            out.amounts[first] = out.amounts.get(first, 0.0) + (total - placed)
    if not ret.refunds and ret.refund_amount:
        out.every_unit = True
        out.unplaced += float(ret.refund_amount)
    # Units and money on lines this return does not list ("") go on its first line.
    out.unplaced += out.amounts.pop("", 0.0)
    return out


def return_rows(merchant: str, ret: Return) -> list[Row]:
    """The frame rows of one return (one per line; one header-only row without lines)."""
    split = split_refunds(ret)
    stray_units = split.units.pop("", 0)
    header = (
        merchant,
        customer_identifier_for(ret.id),
        ret.id,
        ret.rma,
        ret.status,
        ret.created_at,
        ret.updated_at,
        ret.refunded_at or split.refunded_at,
    )
    if not ret.line_items:
        return [(*header, None, 0, stray_units, 0.0, split.unplaced)]
    rows: list[Row] = []
    for i, line in enumerate(ret.line_items):
        basis = line_amount(line)
        units = max(line.units, 0)
        price = float(basis) / units if basis is not None and units else 0.0
        refunded = units if split.every_unit else split.units.get(line.id, 0)
        amount = split.amounts.get(line.id, 0.0)
        if i == 0:
            refunded += stray_units
            amount += split.unplaced
        rows.append((*header, line.sku or None, units, refunded, price, amount))
    return rows


class ReturnSink:
    """Returns mapped to rows as they arrive (thread-safe), with what the fetch still needs."""

    def __init__(self, merchant: str) -> None:
        self.merchant = merchant
        self.rows = Rows(RETURNLY_LINES, "returnly")
        self.created: dict[str, datetime] = {}
        """Return id -> created_at of every return added."""

    def add(self, returns: Iterable[Return]) -> int:
        """Map and add returns not seen before; answers how many were new."""
        batch = list(returns)
        added = self.rows.add((ret.id, return_rows(self.merchant, ret)) for ret in batch)
        if added:
            new = set(added)
            self.created.update((r.id, r.created_at) for r in batch if r.id in new)
        return len(added)

    def __contains__(self, return_id: object) -> bool:
        return return_id in self.rows

    def frame(self) -> pd.DataFrame:
        """The validated ``RETURNLY_LINES`` frame."""
        return self.rows.frame()


def returns_frame(merchant: str, returns: Iterable[Return]) -> pd.DataFrame:
    """The validated ``RETURNLY_LINES`` frame of these returns."""
    sink = ReturnSink(merchant)
    sink.add(returns)
    return sink.frame()
