"""The refund decision for one received return, and its idempotency key (DESIGN "Identity")."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from clients.returnly.models import RefundCreate, RefundLineItemCreate, Return
from core.mapping.text import clean

REFUND_KEY_PREFIX = "rfd-"
REFUND_KEY_HEX = 32
"""128 bits of sha256: collisions are not a practical concern, and the key stays header-sized."""


class RefundIssueCode(StrEnum):
    """Receipt facts a person must look at (ledger exception kinds)."""

    NOT_ON_ORIGINAL_RMA = "not_on_original_rma"
    OVER_RECEIPT = "over_receipt"
    UNMATCHED_RMA_LINE = "unmatched_rma_line"
    RMA_MISMATCH = "rma_mismatch"
    RETURN_CANCELED = "return_canceled"
    UNKNOWN_RETURN_STATUS = "unknown_return_status"


class HeldReason(StrEnum):
    """Why received units are not refunded now."""

    POLICY_REVIEW = "policy_review"
    """The merchant's policy sends this inventory status to review."""
    UNKNOWN_INVENTORY_STATUS = "unknown_inventory_status"
    PARTIAL_RECEIPT = "partial_receipt"
    """The policy refunds only complete returns, and units are still missing."""
    EXCHANGE_REVIEW = "exchange_review"
    GIFT_REVIEW = "gift_review"


class RefundIssue(BaseModel):
    """A receipt fact needing a person; ``sku`` and ``units`` locate it."""

    model_config = ConfigDict(frozen=True)

    code: RefundIssueCode
    message: str
    sku: str | None = None
    units: int = 0


class RefundLine(BaseModel):
    """Units of one Returnly line to refund now, with their expected value."""

    model_config = ConfigDict(frozen=True)

    return_line_item_id: str
    sku: str
    units: int = Field(ge=1)
    amount: Decimal
    """Share of the line's refund amount for these units, before deductions."""
    deduction_amount: Decimal = Decimal("0.00")
    previously_refunded: int = 0
    """Units of this line already refunded by an earlier refund (part of the key)."""


class HeldUnits(BaseModel):
    """Received units of one Returnly line held for review, and why."""

    model_config = ConfigDict(frozen=True)

    return_line_item_id: str
    sku: str
    units: int
    inventory_status: str | None
    """``None`` when the whole line is held (partial receipt, exchange or gift review)."""
    reason: HeldReason
    message: str


class OpenUnits(BaseModel):
    """Units of one Returnly line not (yet) received: they stay open, visibly."""

    model_config = ConfigDict(frozen=True)

    return_line_item_id: str
    sku: str
    units: int


def refund_key(return_id: str, lines: list[RefundLine]) -> str:
    """Deterministic idempotency key over (return, sorted lines, units, units refunded before).

    The same decision always gives the same key; any change of lines or units gives another.
    Units refunded before are included so a later refund of the rest of a partial receipt
    is not mistaken for a replay of the first one.
    """
    material = {
        "return_id": return_id,
        "lines": sorted(
            [line.return_line_item_id, line.units, line.previously_refunded] for line in lines
        ),
    }
    digest = hashlib.sha256(json.dumps(material, separators=(",", ":")).encode()).hexdigest()
    return REFUND_KEY_PREFIX + digest[:REFUND_KEY_HEX]


class RefundDecision(BaseModel):
    """What to refund for one received return, and everything that is not refunded.

    Attributes
    ----------
    lines:
        Units to refund now, per Returnly line; empty means **no refund** (see
        ``no_refund_reason``).
    deduction_amount:
        Total withheld under ``refund_with_deduction`` rules, sent with the refund.
    expected_refund_amount:
        Merchandise value of ``lines`` minus ``deduction_amount`` (shipping and tax refunds are
        Returnly's computation); for reports and reconciliation.
    held / open_units / issues:
        Received units held for review, units not received, and facts needing a person.
    refund_key:
        Idempotency key of this refund (see :func:`refund_key`); ``None`` when nothing is
        refunded.
    """

    model_config = ConfigDict(frozen=True)

    return_id: str
    customer_identifier: str
    rma_id: str
    lines: list[RefundLine] = Field(default_factory=list)
    deduction_amount: Decimal = Decimal("0.00")
    expected_refund_amount: Decimal = Decimal("0.00")
    held: list[HeldUnits] = Field(default_factory=list)
    open_units: list[OpenUnits] = Field(default_factory=list)
    issues: list[RefundIssue] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    refund_key: str | None = None
    no_refund_reason: str | None = None

    @property
    def refundable(self) -> bool:
        """True when a refund should be posted."""
        return bool(self.lines)

    @property
    def outcome(self) -> Literal["refund", "no_refund"]:
        """``refund`` or an explicit ``no_refund``."""
        return "refund" if self.lines else "no_refund"

    def to_refund_create(self, ret: Return) -> RefundCreate:
        """The Returnly refund request (``restock`` is always false: AMS owns inventory).

        The return is named by its RMA number, or by a tracking number when it has none (§A.7).
        """
        if not self.lines:
            raise ValueError(f"no refund for return {self.return_id}: {self.no_refund_reason}")
        if ret.id != self.return_id:
            raise ValueError(f"decision is for return {self.return_id}, not {ret.id}")
        rma = clean(ret.rma) or None
        tracking = None if rma else next(iter(ret.tracking_numbers), None)
        if rma is None and tracking is None:
            raise ValueError(f"return {ret.id} has neither an RMA number nor a tracking number")
        return RefundCreate(
            rma=rma,
            tracking_number=tracking,
            restock=False,
            line_items=[
                RefundLineItemCreate(return_line_item_id=line.return_line_item_id, units=line.units)
                for line in self.lines
            ],
            deduction_amount=self.deduction_amount,
            note=f"AMS receipt of RMA {self.rma_id}; refund key {self.refund_key}",
        )
