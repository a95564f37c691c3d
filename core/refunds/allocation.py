"""Received units (AMS ``receiving_details``) -> the Returnly lines they belong to.

- The inspection result is ``receiving_details`` (units per inventory status), never the
  line's requested ``return_inventory_status`` (§B.7). A line with ``quantity_received`` but no
  details counts those units under the status ``unspecified``, which no default rule knows,
  so they go to review.
- An AMS line matches the Returnly lines with the same (SKU, order) as intake grouped them;
  without an AMS order id, or when none matches, by SKU alone.
- Several Returnly lines per AMS line (one line per unit, or the same SKU bought twice) are
  filled in Returnly order, up to each line's ``units``. Statuses are placed in policy order
  (refund, refund with deduction, review; then by name), so the allocation is deterministic.
- What does not fit is over-receipt: capped, reported as an issue. Lines flagged
  ``not_on_original_rma`` are never allocated: they are an issue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clients.ams.models import Rma, RmaLine
from clients.returnly.models import Return, ReturnLineItem
from core.mapping.lines import group_key
from core.mapping.text import clean
from core.policy import MerchantPolicy, RefundAction
from core.refunds.models import RefundIssue, RefundIssueCode

UNSPECIFIED_STATUS = "unspecified"
_ACTION_RANK: dict[RefundAction, int] = {"refund": 0, "refund_with_deduction": 1, "review": 2}


@dataclass
class Allocation:
    """Units received per Returnly line and inventory status, plus what could not be placed."""

    received: dict[str, dict[str, int]] = field(default_factory=dict)
    issues: list[RefundIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, line_id: str, status: str, units: int) -> None:
        """Record ``units`` of ``status`` on a Returnly line."""
        per_status = self.received.setdefault(line_id, {})
        per_status[status] = per_status.get(status, 0) + units


def received_units(line: RmaLine, notes: list[str]) -> dict[str, int]:
    """Units per inventory status on one AMS line (zero entries dropped)."""
    received = {s: n for s, n in line.received_by_status().items() if n > 0}
    total = sum(received.values())
    reported = line.quantity_received
    if not received and reported:
        notes.append(
            f"{line.customer_sku_id}: {reported} received without receiving details, "
            f"counted as {UNSPECIFIED_STATUS!r}"
        )
        return {UNSPECIFIED_STATUS: reported}
    if reported is not None and received and reported != total:
        notes.append(
            f"{line.customer_sku_id}: quantity_received {reported} but receiving details "
            f"sum to {total}; the details are used"
        )
    return received


def _candidates(
    sku: str, order_id: str | None, lines: list[ReturnLineItem], policy: MerchantPolicy
) -> list[ReturnLineItem]:
    if order_id:
        exact = [line for line in lines if group_key(line, policy) == (sku, order_id)]
        if exact:
            return exact
    return [line for line in lines if group_key(line, policy)[0] == sku]


def _status_order(received: dict[str, int], policy: MerchantPolicy) -> list[str]:
    return sorted(received, key=lambda s: (_ACTION_RANK[policy.rule_for(s).action], s))


def allocate(ret: Return, rma: Rma, policy: MerchantPolicy) -> Allocation:
    """Place every received unit on a Returnly line, or report why it could not be placed."""
    out = Allocation()
    capacity = {line.id: max(line.units, 0) for line in ret.line_items}
    for ams in rma.line_items:
        sku = clean(ams.customer_sku_id)
        received = received_units(ams, out.notes)
        total = sum(received.values())
        if ams.not_on_original_rma:
            out.issues.append(
                RefundIssue(
                    code=RefundIssueCode.NOT_ON_ORIGINAL_RMA,
                    message=f"{sku or 'an item without SKU'} was not on the original RMA "
                    f"({_describe(received)}): not refunded",
                    sku=sku or None,
                    units=total,
                )
            )
            continue
        if total == 0:
            continue
        candidates = _candidates(sku, clean(ams.customer_order_id) or None, ret.line_items, policy)
        if not candidates:
            out.issues.append(
                RefundIssue(
                    code=RefundIssueCode.UNMATCHED_RMA_LINE,
                    message=f"{sku} ({_describe(received)}) matches no line of the return",
                    sku=sku or None,
                    units=total,
                )
            )
            continue
        excess: dict[str, int] = {}
        for status in _status_order(received, policy):
            left = received[status]
            for line in candidates:
                take = min(left, capacity[line.id])
                if take:
                    out.add(line.id, status, take)
                    capacity[line.id] -= take
                    left -= take
            if left:
                excess[status] = left
        if excess:
            extra = sum(excess.values())
            out.issues.append(
                RefundIssue(
                    code=RefundIssueCode.OVER_RECEIPT,
                    message=f"{sku}: {total} received, {extra} more than returned "
                    f"({_describe(excess)}); capped at what was returned",
                    sku=sku,
                    units=extra,
                )
            )
    return out


def _describe(received: dict[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in received.items()) or "none received"
