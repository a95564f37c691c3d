"""Per-merchant drift thresholds: how long a state may last before it counts as drift.

Grace periods exist because both systems are eventually consistent with each other: an RMA is
created minutes after the authorization, a refund follows the receipt after inspection. A
state counts as drift once it has lasted strictly longer than its grace period.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

from core.policy import MerchantPolicy


@dataclass(frozen=True, slots=True)
class DriftThresholds:
    """Tolerances of one merchant.

    Attributes
    ----------
    authorized_no_rma_grace:
        How long an authorized return may wait for its AMS RMA (intake normally takes minutes).
    orphan_rma_grace:
        How long an RMA may exist without a Returnly return (covers the fetch race: an RMA
        created between the Returnly fetch and the AMS fetch).
    received_not_refunded_grace:
        How long a received RMA may wait for its refund (completion plus inspection slack).
    stuck_in_transit_after:
        No progress on either side for this long while in transit counts as stuck.
    amount_tolerance:
        Absolute difference (currency units) tolerated between the expected and the refunded
        amount (rounding, cents).
    damaged_refund_fraction:
        Share of the unit price refunded for units received non-sellable (0 = held, 1 = full).
    """

    authorized_no_rma_grace: timedelta = timedelta(hours=4)
    orphan_rma_grace: timedelta = timedelta(hours=1)
    received_not_refunded_grace: timedelta = timedelta(hours=48)
    stuck_in_transit_after: timedelta = timedelta(days=14)
    amount_tolerance: float = 0.01
    damaged_refund_fraction: float = 0.0

    def __post_init__(self) -> None:
        for name in (
            "authorized_no_rma_grace",
            "orphan_rma_grace",
            "received_not_refunded_grace",
            "stuck_in_transit_after",
        ):
            if getattr(self, name) < timedelta(0):
                raise ValueError(f"{name} must not be negative")
        if self.amount_tolerance < 0:
            raise ValueError("amount_tolerance must not be negative")
        if not 0.0 <= self.damaged_refund_fraction <= 1.0:
            raise ValueError("damaged_refund_fraction must be within 0.0..1.0")

    def with_policy(self, policy: MerchantPolicy) -> DriftThresholds:
        """A copy whose refund expectation follows the merchant policy's ``damaged`` rule."""
        return replace(self, damaged_refund_fraction=damaged_refund_fraction(policy))


def damaged_refund_fraction(policy: MerchantPolicy) -> float:
    """Share of the unit price the merchant refunds for a damaged unit (held for review: 0)."""
    rule = policy.rule_for("damaged")
    if rule.action == "refund":
        return 1.0
    if rule.action == "review":
        return 0.0
    return 1.0 - float(rule.deduction_fraction)


@dataclass(frozen=True, slots=True)
class MerchantThresholds:
    """Thresholds by merchant, with a default for merchants not listed."""

    default: DriftThresholds = field(default_factory=DriftThresholds)
    by_merchant: Mapping[str, DriftThresholds] = field(default_factory=dict)

    def for_merchant(self, merchant: str) -> DriftThresholds:
        """The thresholds that apply to one merchant."""
        return self.by_merchant.get(merchant, self.default)


def as_merchant_thresholds(
    thresholds: DriftThresholds | MerchantThresholds | None,
) -> MerchantThresholds:
    """Accept one set for everybody, a per-merchant book, or nothing (defaults)."""
    if thresholds is None:
        return MerchantThresholds()
    if isinstance(thresholds, DriftThresholds):
        return MerchantThresholds(default=thresholds)
    return thresholds
