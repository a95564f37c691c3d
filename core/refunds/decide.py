"""AMS receipt -> refund decision per Returnly line (DESIGN "Completion", contracts §B.7).

Per Returnly line, the received units (see :mod:`core.refunds.allocation`) go through the
merchant's rule for their inventory status: refunded, refunded with a deduction, or held for
review (unknown statuses: review). Units not received stay open. Units an earlier refund
already covered (Returnly's refund line items) are not refunded again. Nothing is refunded when
the RMA is not received, belongs to another return, or the return is canceled, in an unknown
status, or refunded without line detail (then the refund cannot be told apart).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from clients.ams.models import Rma
from clients.ams.statuses import RECEIVED, is_ams_status
from clients.returnly.models import CANCELED_STATUSES, Return, ReturnLineItem
from core.mapping.identity import customer_identifier_for, sku_of
from core.mapping.rma import is_exchange
from core.policy import MerchantPolicy, normalize_status
from core.refunds.allocation import allocate
from core.refunds.models import (
    HeldReason,
    HeldUnits,
    OpenUnits,
    RefundDecision,
    RefundIssue,
    RefundIssueCode,
    RefundLine,
    refund_key,
)

CENT = Decimal("0.01")


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_amount(line: ReturnLineItem) -> Decimal | None:
    """The refund value of the whole line: estimated, else total, else price minus discount."""
    for amount in (line.estimated_refund_amount, line.total_refund_amount):
        if amount is not None:
            return amount
    if line.original_amount is not None:
        return line.original_amount - (line.discount_amount or Decimal(0))
    return None


def already_refunded(ret: Return) -> dict[str, int] | None:
    """Units refunded so far per line; ``None`` when a refund exists without line detail."""
    if not ret.is_refunded:
        return {}
    if not ret.refunds or any(not refund.line_items for refund in ret.refunds):
        return None
    out: dict[str, int] = {}
    for refund in ret.refunds:
        for item in refund.line_items:
            out[item.return_line_item_id] = out.get(item.return_line_item_id, 0) + item.units
    return out


def _guard(ret: Return, rma: Rma, cid: str) -> tuple[str, RefundIssue | None] | None:
    """A reason to refund nothing at all (and the issue to record), or ``None``."""
    if rma.customer_identifier != cid:
        issue = RefundIssue(
            code=RefundIssueCode.RMA_MISMATCH,
            message=f"RMA {rma.id} is {rma.customer_identifier!r}, not {cid!r}",
        )
        return "the RMA belongs to another return", issue
    if ret.status in CANCELED_STATUSES:
        issue = RefundIssue(
            code=RefundIssueCode.RETURN_CANCELED,
            message=f"return is {ret.status} in Returnly but AMS received RMA {rma.id}",
        )
        return "the return is canceled", issue
    if not ret.is_actionable:
        issue = RefundIssue(
            code=RefundIssueCode.UNKNOWN_RETURN_STATUS,
            message=f"return status {ret.status!r} is unknown: manual review",
        )
        return "unknown return status", issue
    if not is_ams_status(rma.status, RECEIVED):
        return f"the RMA is not received yet (status {rma.status!r})", None
    return None


def _completion_hold(ret: Return, policy: MerchantPolicy) -> tuple[HeldReason, str] | None:
    if is_exchange(ret) and policy.exchange_completion == "review":
        return HeldReason.EXCHANGE_REVIEW, "exchange held for review by the merchant's policy"
    if ret.is_gift and policy.gift_completion == "review":
        return HeldReason.GIFT_REVIEW, "gift return held for review by the merchant's policy"
    return None


def _held_for_status(line: ReturnLineItem, status: str, units: int, known: bool) -> HeldUnits:
    if known:
        reason, message = HeldReason.POLICY_REVIEW, f"received as {status}: policy says review"
    else:
        reason = HeldReason.UNKNOWN_INVENTORY_STATUS
        message = f"received as {status!r}, an inventory status without a rule: review"
    return HeldUnits(
        return_line_item_id=line.id,
        sku=sku_of(line),
        units=units,
        inventory_status=status,
        reason=reason,
        message=message,
    )


def _settle(
    line: ReturnLineItem, payable: list[tuple[str, int, Decimal]], prior: int, notes: list[str]
) -> tuple[RefundLine | None, list[HeldUnits]]:
    """The refund of one line's payable units, less units refunded before.

    Units needing a deduction on a line without any amount are held: refunding them in full
    would silently skip the deduction.
    """
    skip = prior
    basis = line_amount(line)
    units = 0
    withheld = Decimal(0)
    unpriced: list[HeldUnits] = []
    for status, received, fraction in payable:
        take = received - min(skip, received)
        skip -= received - take
        if take and fraction and basis is None:
            unpriced.append(
                HeldUnits(
                    return_line_item_id=line.id,
                    sku=sku_of(line),
                    units=take,
                    inventory_status=status,
                    reason=HeldReason.POLICY_REVIEW,
                    message=f"received as {status}: a deduction applies but the line has no amount",
                )
            )
            continue
        units += take
        withheld += take * fraction
    if units == 0:
        if prior and payable:
            notes.append(f"line {line.id}: received units already refunded ({prior})")
        return None, unpriced
    if basis is None:
        notes.append(f"line {line.id} has no amount: the expected refund leaves it out")
        basis = Decimal(0)
    per_line = max(line.units, 1)
    refund = RefundLine(
        return_line_item_id=line.id,
        sku=sku_of(line),
        units=units,
        amount=_money(basis * units / per_line),
        deduction_amount=_money(basis * withheld / per_line),
        previously_refunded=prior,
    )
    return refund, unpriced


def _hold_lines(lines: list[RefundLine], reason: HeldReason, message: str) -> list[HeldUnits]:
    return [
        HeldUnits(
            return_line_item_id=line.return_line_item_id,
            sku=line.sku,
            units=line.units,
            inventory_status=None,
            reason=reason,
            message=message,
        )
        for line in lines
    ]


def _why_nothing(held: list[HeldUnits], open_units: list[OpenUnits], prior: dict[str, int]) -> str:
    if held:
        return f"{sum(h.units for h in held)} received unit(s) held for review"
    if prior:
        return "every received unit is already refunded"
    if open_units:
        return "nothing received for any line of the return"
    return "nothing to refund"


def decide_refund(ret: Return, rma: Rma, policy: MerchantPolicy) -> RefundDecision:
    """Decide what to refund for a received RMA; see the module docstring for the rules."""
    cid = customer_identifier_for(ret.id)
    stop = _guard(ret, rma, cid)
    if stop is not None:
        reason, issue = stop
        return RefundDecision(
            return_id=ret.id,
            customer_identifier=cid,
            rma_id=rma.id,
            issues=[issue] if issue else [],
            no_refund_reason=reason,
        )
    prior = already_refunded(ret)
    if prior is None:
        return RefundDecision(
            return_id=ret.id,
            customer_identifier=cid,
            rma_id=rma.id,
            no_refund_reason="Returnly already shows a refund for this return",
        )

    alloc = allocate(ret, rma, policy)
    notes = list(alloc.notes)
    hold = _completion_hold(ret, policy)
    lines: list[RefundLine] = []
    held: list[HeldUnits] = []
    open_units: list[OpenUnits] = []
    for line in ret.line_items:
        got = alloc.received.get(line.id, {})
        missing = max(line.units, 0) - sum(got.values())
        if missing > 0:
            open_units.append(
                OpenUnits(return_line_item_id=line.id, sku=sku_of(line), units=missing)
            )
        # (status, units, deduction fraction): plain refunds first, so earlier refunds
        # are subtracted from them before any deducted units.
        payable: list[tuple[str, int, Decimal]] = []
        for status, units in got.items():
            rule = policy.rule_for(status)
            if rule.action == "review":
                known = normalize_status(status) in policy.inventory_status_policy
                held.append(_held_for_status(line, status, units, known))
            else:
                payable.append((status, units, rule.deduction_fraction))
        payable.sort(key=lambda p: p[2])
        refund, unpriced = _settle(line, payable, prior.get(line.id, 0), notes)
        if refund is not None:
            lines.append(refund)
        held.extend(unpriced)

    if lines and (hold is not None or (open_units and not policy.refund_partial_receipts)):
        reason, message = hold or (
            HeldReason.PARTIAL_RECEIPT,
            "units still missing and the merchant refunds complete returns only",
        )
        held.extend(_hold_lines(lines, reason, message))
        lines = []

    deduction = sum((line.deduction_amount for line in lines), Decimal("0.00"))
    gross = sum((line.amount for line in lines), Decimal("0.00"))
    return RefundDecision(
        return_id=ret.id,
        customer_identifier=cid,
        rma_id=rma.id,
        lines=lines,
        deduction_amount=deduction,
        expected_refund_amount=gross - deduction,
        held=held,
        open_units=open_units,
        issues=alloc.issues,
        notes=notes,
        refund_key=refund_key(ret.id, lines) if lines else None,
        no_refund_reason=None if lines else _why_nothing(held, open_units, prior),
    )
