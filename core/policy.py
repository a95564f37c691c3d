"""Per-merchant policy: the choices the mapping and refund rules leave to each merchant.

Every field has a default that is safe without configuration (contracts §B.9, §B.11):

- ``return_cause`` -> AMS reason code through :attr:`MerchantPolicy.reason_code_map`; only the five
  spec codes are ever sent, anything unmapped becomes ``other`` with the cause text as the note.
- Units received as ``available`` are refunded; every other inventory status, known or not, is
  held for a person to review (the §B.9 plan: only ``available`` is known to be sellable).
  A merchant who refunds damaged goods minus a fee sets e.g.
  ``{"damaged": {"action": "refund_with_deduction", "deduction_fraction": "0.5"}}``.
- Exchanges and gift returns still travel back to the warehouse, so an RMA is created for them
  and their receipt is processed through the same refund call (Returnly settles the exchange or
  the gift credit itself). Either can be switched to ``hold`` / ``review`` per merchant.
- A partial receipt refunds what arrived and leaves the rest open.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from clients.ams.validation import RETURN_INVENTORY_STATUSES

AmsReasonCode = Literal["tooBig", "tooSmall", "damaged", "wrongItem", "other"]
"""The only reason codes sent to AMS (§B.9: the MD prose lists others the schema rejects)."""
AMS_REASON_CODES: tuple[AmsReasonCode, ...] = (
    "tooBig",
    "tooSmall",
    "damaged",
    "wrongItem",
    "other",
)

RefundAction = Literal["refund", "refund_with_deduction", "review"]
"""What happens to units received in a given inventory status."""

IntakeHandling = Literal["create_rma", "hold"]
"""``create_rma``: map as usual (with a note for the warehouse); ``hold``: an exception instead."""
CompletionHandling = Literal["refund", "review"]
"""``refund``: process the receipt through the refund call; ``review``: hold it for a person."""
OrderIdSource = Literal["ext_order_number", "ext_order_id", "none"]
"""Which Returnly field becomes the AMS ``customer_order_id`` (the other one is the fallback)."""
HeldReviewDefault = Literal["keep_open", "approve", "reject"]
"""What happens to a refund held for review when nobody decided in time."""

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def normalize_cause(value: str) -> str:
    """Case- and punctuation-insensitive key for a ``return_cause`` ("Too Big" == "too_big")."""
    return _NON_ALNUM.sub("_", value.strip().lower()).strip("_")


def normalize_status(value: str) -> str:
    """Key for an inventory status ("Quality_Control" == "quality-control"), §B.9 drift."""
    return re.sub(r"[\s_]+", "-", value.strip().lower())


def _codes(code: AmsReasonCode, *causes: str) -> dict[str, AmsReasonCode]:
    return {normalize_cause(cause): code for cause in causes}


DEFAULT_REASON_CODE_MAP: dict[str, AmsReasonCode] = {
    **_codes("tooBig", "tooBig", "too_big", "too_large", "runs_large", "too_loose", "size_too_big"),
    **_codes("tooSmall", "tooSmall", "too_small", "runs_small", "too_tight", "size_too_small"),
    **_codes(
        "damaged",
        "damaged",
        "defective",
        "damaged_defective",
        "arrived_damaged",
        "damaged_in_shipping",
        "broken",
    ),
    **_codes(
        "wrongItem",
        "wrongItem",
        "wrong_item",
        "wrong_item_sent",
        "wrong_item_received",
        "incorrect_item",
        "not_what_i_ordered",
    ),
    **_codes("other", "other"),
}
"""Common spellings of Returnly causes; anything else falls back to ``other`` + a note."""


class InventoryStatusRule(BaseModel):
    """What to do with units AMS received in one inventory status.

    Attributes
    ----------
    action:
        ``refund`` the units, refund them with a deduction, or hold them for ``review``.
    deduction_fraction:
        Share of the units' refund value withheld; only for ``refund_with_deduction``,
        where it must be in (0, 1].
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: RefundAction
    deduction_fraction: Decimal = Field(default=Decimal("0"), ge=0, le=1)

    @model_validator(mode="after")
    def _fraction_matches_action(self) -> InventoryStatusRule:
        if self.action == "refund_with_deduction" and self.deduction_fraction <= 0:
            raise ValueError("refund_with_deduction needs a deduction_fraction in (0, 1]")
        if self.action != "refund_with_deduction" and self.deduction_fraction != 0:
            raise ValueError("deduction_fraction is only allowed with refund_with_deduction")
        return self


REFUND = InventoryStatusRule(action="refund")
REVIEW = InventoryStatusRule(action="review")

DEFAULT_INVENTORY_STATUS_POLICY: dict[str, InventoryStatusRule] = {
    "available": REFUND,
    "damaged": REVIEW,
    "qc": REVIEW,
    "quality-control": REVIEW,
    "quarantine": REVIEW,
    "refurbishing": REVIEW,
    "under-investigation": REVIEW,
    "disposed": REVIEW,
    "short": REVIEW,
}
"""Only ``available`` is refunded by default; listed statuses document the known set (§B.9)."""


class MerchantPolicy(BaseModel):
    """The per-merchant choices of the mapping and refund rules (see the module docstring).

    Attributes
    ----------
    reason_code_map:
        ``return_cause`` -> AMS reason code; keys are matched case- and punctuation-insensitively.
        Entries are laid over :data:`DEFAULT_REASON_CODE_MAP` (map a cause to ``other`` to
        undo a default).
    return_inventory_status:
        The inventory status requested on every RMA line (``qc`` in the spec schema,
        ``quality-control`` in the prose set; §B.9).
    inventory_status_policy:
        Received inventory status -> rule, laid over :data:`DEFAULT_INVENTORY_STATUS_POLICY`
        (so ``{"damaged": ...}`` keeps ``available`` refunded). Unlisted statuses: review.
    customer_order_id_source:
        Returnly field sent as the AMS ``customer_order_id``; ``none`` omits it (AMS then does
        not check the order, §B.3).
    exchange_intake / gift_intake:
        Whether exchanges / gift returns get an RMA (default) or are held as an exception.
    exchange_completion / gift_completion:
        Whether their receipt is refunded as usual (default) or held for review.
    refund_partial_receipts:
        Refund what arrived and leave the rest open (default), or hold everything until the
        whole return has arrived.
    held_review_timeout_hours:
        How long a refund held for review waits for a person before ``held_review_default``
        applies.
    held_review_default:
        ``keep_open`` (default: the refund keeps waiting, no money moves), ``approve`` (refund
        in full) or ``reject`` when the timeout passes.
    reread_ams_callbacks:
        Re-read every RMA an AMS callback names (batched, 30 ids per GET) instead of using
        the record the authenticated callback carries (default: use it; it costs no request).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason_code_map: dict[str, AmsReasonCode] = Field(
        default_factory=lambda: dict(DEFAULT_REASON_CODE_MAP)
    )
    return_inventory_status: str = Field(default="qc", min_length=1)
    inventory_status_policy: dict[str, InventoryStatusRule] = Field(
        default_factory=lambda: dict(DEFAULT_INVENTORY_STATUS_POLICY)
    )
    customer_order_id_source: OrderIdSource = "ext_order_number"
    exchange_intake: IntakeHandling = "create_rma"
    gift_intake: IntakeHandling = "create_rma"
    exchange_completion: CompletionHandling = "refund"
    gift_completion: CompletionHandling = "refund"
    refund_partial_receipts: bool = True
    held_review_timeout_hours: float = Field(default=72.0, gt=0)
    held_review_default: HeldReviewDefault = "keep_open"
    reread_ams_callbacks: bool = False

    @field_validator("return_inventory_status")
    @classmethod
    def _known_target_status(cls, value: str) -> str:
        if value not in RETURN_INVENTORY_STATUSES:
            raise ValueError(f"{value!r} is not an AMS inventory status")
        return value

    @field_validator("reason_code_map")
    @classmethod
    def _normalize_causes(cls, value: dict[str, AmsReasonCode]) -> dict[str, AmsReasonCode]:
        given = {normalize_cause(cause): code for cause, code in value.items()}
        return {**DEFAULT_REASON_CODE_MAP, **given}

    @field_validator("inventory_status_policy")
    @classmethod
    def _normalize_statuses(
        cls, value: dict[str, InventoryStatusRule]
    ) -> dict[str, InventoryStatusRule]:
        given = {normalize_status(status): rule for status, rule in value.items()}
        return {**DEFAULT_INVENTORY_STATUS_POLICY, **given}

    def reason_code_for(self, cause: str | None) -> AmsReasonCode | None:
        """The AMS code for a Returnly cause, or ``None`` when the merchant has not mapped it."""
        if not cause or not cause.strip():
            return None
        return self.reason_code_map.get(normalize_cause(cause))

    def rule_for(self, inventory_status: str) -> InventoryStatusRule:
        """The rule for a received inventory status; unknown statuses are held for review."""
        return self.inventory_status_policy.get(normalize_status(inventory_status), REVIEW)
