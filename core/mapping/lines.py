"""Returnly line items -> AMS RMA line items (contracts §A.8.6, §B.3, §B.11).

- One AMS line per (SKU, order): Returnly may send one line per unit, so lines with the same
  SKU and ``customer_order_id`` are grouped and their ``units`` summed into ``quantity``.
- ``return_cause`` -> reason code through the merchant map. An unmapped cause is sent as
  ``other`` with the cause text as the note; a group whose lines disagree takes the code
  covering most units (first seen on a tie) and records an adjustment.
- ``return_notes`` is the sub-cause (or ``cause: sub-cause`` when the cause is unmapped); a
  group's distinct notes are joined with ``; ``, cut to 50 characters with an ellipsis, and
  left out when shorter than AMS's 2-character minimum.
- A line without a usable SKU or with units < 1 holds the whole return: dropping a line would
  make AMS expect less than the shopper sends back and under-refund them later.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from clients.ams.models import RmaLineItemCreate
from clients.returnly.models import Return, ReturnLineItem
from core.mapping.identity import order_id_for, sku_of
from core.mapping.result import Adjustment, MappingIssue, MappingIssueCode
from core.mapping.text import clean, truncate_marked
from core.policy import AmsReasonCode, MerchantPolicy

SKU_MIN, SKU_MAX = 2, 100
NOTES_MIN, NOTES_MAX = 2, 50

GroupKey = tuple[str, str | None]
"""(SKU, customer_order_id): the identity of an AMS line, shared with the refund rules."""


def line_problems(ret: Return, known_skus: Iterable[str] | None) -> list[MappingIssue]:
    """Every line that cannot be sent as is; any of them holds the whole return."""
    if not ret.line_items:
        return [
            MappingIssue(
                code=MappingIssueCode.NO_LINE_ITEMS,
                message="the return has no line items",
                field="line_items",
            )
        ]
    known = None if known_skus is None else frozenset(known_skus)
    out: list[MappingIssue] = []
    for i, line in enumerate(ret.line_items):
        where = f"line_items[{i}]"
        sku = sku_of(line)
        if not sku:
            out.append(
                MappingIssue(
                    code=MappingIssueCode.MISSING_SKU,
                    message=f"line {line.id} has no SKU",
                    field=f"{where}.sku",
                )
            )
        elif not SKU_MIN <= len(sku) <= SKU_MAX:
            out.append(
                MappingIssue(
                    code=MappingIssueCode.INVALID_SKU,
                    message=f"line {line.id}: SKU has {len(sku)} characters "
                    f"(AMS allows {SKU_MIN}..{SKU_MAX})",
                    field=f"{where}.sku",
                )
            )
        elif known is not None and sku not in known:
            out.append(
                MappingIssue(
                    code=MappingIssueCode.UNKNOWN_SKU,
                    message=f"line {line.id}: SKU {sku!r} is not in the AMS catalog",
                    field=f"{where}.sku",
                )
            )
        if line.units < 1:
            out.append(
                MappingIssue(
                    code=MappingIssueCode.INVALID_UNITS,
                    message=f"line {line.id} has {line.units} units",
                    field=f"{where}.units",
                )
            )
    return out


def group_key(line: ReturnLineItem, policy: MerchantPolicy) -> GroupKey:
    """The AMS line a Returnly line belongs to."""
    return sku_of(line), order_id_for(line, policy)


@dataclass
class _Group:
    index: int
    sku: str
    order_id: str | None
    units: int = 0
    lines: int = 0
    code_units: dict[AmsReasonCode, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, units: int, code: AmsReasonCode, note: str) -> None:
        self.units += units
        self.lines += 1
        self.code_units[code] = self.code_units.get(code, 0) + units
        if note and note not in self.notes:
            self.notes.append(note)

    def code(self) -> AmsReasonCode:
        # max() keeps the first of equal counts, and dicts keep first-seen order.
        return max(self.code_units, key=lambda c: self.code_units[c])


def _reason(
    line: ReturnLineItem, policy: MerchantPolicy, where: str, adjustments: list[Adjustment]
) -> tuple[AmsReasonCode, str]:
    cause, sub = clean(line.return_cause), clean(line.return_sub_cause)
    code = policy.reason_code_for(cause)
    if code is not None:
        return code, sub
    if cause:
        adjustments.append(
            Adjustment(
                field=f"{where}.return_reason_code",
                message=f"cause {truncate_marked(cause, 60)!r} is not in the merchant's map: "
                "sent as other with the cause as note",
            )
        )
        return "other", f"{cause}: {sub}" if sub else cause
    return "other", sub


def _notes(group: _Group, where: str, adjustments: list[Adjustment]) -> str | None:
    text = "; ".join(group.notes)
    if not text:
        return None
    if len(text) < NOTES_MIN:
        adjustments.append(
            Adjustment(field=f"{where}.return_notes", message="note shorter than 2: left out")
        )
        return None
    if len(text) > NOTES_MAX:
        adjustments.append(
            Adjustment(
                field=f"{where}.return_notes",
                message=f"note cut from {len(text)} to {NOTES_MAX} characters",
            )
        )
    return truncate_marked(text, NOTES_MAX)


def build_line_items(
    ret: Return, policy: MerchantPolicy
) -> tuple[list[RmaLineItemCreate], list[Adjustment]]:
    """AMS line items grouped by (SKU, order); call only when :func:`line_problems` is empty."""
    groups: dict[GroupKey, _Group] = {}
    adjustments: list[Adjustment] = []
    for line in ret.line_items:
        key = group_key(line, policy)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(index=len(groups), sku=key[0], order_id=key[1])
        where = f"line_items[{group.index}]"
        had_order = bool(clean(line.ext_order_number) or clean(line.ext_order_id))
        if key[1] is None and policy.customer_order_id_source != "none" and had_order:
            adjustments.append(
                Adjustment(
                    field=f"{where}.customer_order_id",
                    message=f"line {line.id}: order id outside AMS's 2..100 characters, left out",
                )
            )
        code, note = _reason(line, policy, where, adjustments)
        group.add(line.units, code, note)
    items: list[RmaLineItemCreate] = []
    for group in groups.values():
        where = f"line_items[{group.index}]"
        code = group.code()
        if len(group.code_units) > 1:
            mix = ", ".join(f"{c} x{n}" for c, n in group.code_units.items())
            adjustments.append(
                Adjustment(
                    field=f"{where}.return_reason_code",
                    message=f"lines disagree ({mix}): sent as {code}",
                )
            )
        if group.lines > 1:
            adjustments.append(
                Adjustment(
                    field=f"{where}.quantity",
                    message=f"{group.lines} Returnly lines of {group.sku} grouped: "
                    f"{group.units} units",
                )
            )
        items.append(
            RmaLineItemCreate(
                customer_sku_id=group.sku,
                quantity=group.units,
                return_reason_code=code,
                return_inventory_status=policy.return_inventory_status,
                customer_order_id=group.order_id,
                return_notes=_notes(group, where, adjustments),
            )
        )
    return items, adjustments
