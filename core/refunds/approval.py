"""A person's decision on a refund held for review, turned into a refund decision.

Approving releases every held unit: the inventory statuses that were held are refunded in
full, exchange and gift holds and the partial-receipt hold are lifted. The refund is then
decided exactly as any other (same allocation, same idempotency key over lines and units), so
an approval is posted through the same leased path and can never add a second refund. A
deduction the reviewer asks for is taken from the whole refund being approved.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from clients.ams.models import Rma
from clients.returnly.models import Return
from core.policy import REFUND, MerchantPolicy, normalize_status
from core.refunds.decide import CENT, decide_refund
from core.refunds.models import RefundDecision


class RefundApproval(BaseModel):
    """A reviewer's go-ahead for a held refund.

    Attributes
    ----------
    deduction_amount:
        Withheld from the approved refund (restocking fee, damage); 0 refunds in full.
    approved_by:
        Who approved, written into the refund's note on the platform.
    """

    model_config = ConfigDict(frozen=True)

    deduction_amount: Decimal = Field(default=Decimal("0.00"), ge=0)
    approved_by: str = ""


class ApprovalError(ValueError):
    """The approval cannot be applied as asked (e.g. a deduction above the refund)."""


def approving_policy(policy: MerchantPolicy, held_statuses: set[str]) -> MerchantPolicy:
    """``policy`` with every hold a reviewer can lift lifted (statuses refunded in full)."""
    rules = dict(policy.inventory_status_policy)
    rules.update({normalize_status(s): REFUND for s in held_statuses})
    return policy.model_copy(
        update={
            "inventory_status_policy": rules,
            "exchange_completion": "refund",
            "gift_completion": "refund",
            "refund_partial_receipts": True,
        }
    )


def approve_refund(
    ret: Return, rma: Rma, policy: MerchantPolicy, approval: RefundApproval
) -> RefundDecision:
    """The refund to post for an approved hold (``lines`` empty when nothing is left)."""
    held = decide_refund(ret, rma, policy)
    # Known statuses sent to review and statuses without a rule alike.
    statuses = {h.inventory_status for h in held.held if h.inventory_status}
    decision = decide_refund(ret, rma, approving_policy(policy, statuses))
    if not decision.refundable:
        return decision
    deduction = approval.deduction_amount.quantize(CENT)
    gross = sum((line.amount for line in decision.lines), Decimal("0.00"))
    total = decision.deduction_amount + deduction
    if total > gross:
        raise ApprovalError(f"deduction {total} is more than the refund's value {gross}")
    notes = [*decision.notes, f"approved for review by {approval.approved_by or 'a reviewer'}"]
    return decision.model_copy(
        update={
            "deduction_amount": total,
            "expected_refund_amount": gross - total,
            "notes": notes,
        }
    )
