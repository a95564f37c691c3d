"""What the chaos scenario does to each return, and the drift each of those things should leave.

Pure: the plan is a function of the authorized return ids alone, so the invariants can be
checked against it after the run without trusting anything the bridge recorded. It follows
the demo (:mod:`deployments.scenario`): every 25th authorized return is cancelled by the
merchant before it ships, the rest cycle through :data:`deployments.scenario.WAREHOUSE_PLAN`
(full, partial, randomized, unexpected, undeliverable, in transit, tendered), and every other
return left in transit is cancelled after it shipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from deployments.scenario import CANCEL_EVERY, WAREHOUSE_PLAN

CANCELLED_BEFORE = "cancelled_before_shipping"
CANCELLED_AFTER = "cancelled_after_shipping"
NO_RMA = "no_rma"
"""Slot of a return whose RMA the bridge never created (a planted intake exception: an SKU
missing or unknown to the warehouse); the warehouse cannot act on it."""
CANCEL_AFTER_EVERY = 2
"""Every Nth return planned to stay in transit is cancelled by the merchant after it shipped."""


def slot_name(event: str, randomize: bool) -> str:
    """The plan slot of a DataFactory event, e.g. ``receiveFull`` or ``receiveFull:random``."""
    return f"{event}:random" if randomize else event


@dataclass(frozen=True)
class Expected:
    """Drift kinds one plan slot must leave (``required``) and may leave (``allowed``)."""

    required: frozenset[str] = frozenset()
    allowed: frozenset[str] = frozenset()


def _e(required: Iterable[str] = (), allowed: Iterable[str] = ()) -> Expected:
    return Expected(frozenset(required), frozenset(allowed))


EXPECTED_DRIFT: dict[str, Expected] = {
    "receiveFull": _e(),
    # A short receipt: fewer units received than returned (the sandbox may receive none).
    "receivePartial": _e(required=["quantity_mismatch"]),
    # Randomized inventory statuses: some units damaged or quarantined, sometimes none good.
    "receiveFull:random": _e(allowed=["quantity_mismatch"]),
    "receiveUnexpected": _e(required=["sku_mismatch"], allowed=["quantity_mismatch"]),
    "undeliverable": _e(required=["status_mismatch"]),
    "inTransit": _e(),
    "tendered": _e(),
    CANCELLED_BEFORE: _e(),
    CANCELLED_AFTER: _e(required=["status_mismatch"]),
    NO_RMA: _e(allowed=["authorized_no_rma"]),
}
"""Drift per slot with the bridge working correctly: calibrated on fault-free runs of this
scenario (``--fault-rate 0 --kills 0``), where every row of the report matched this table."""


@dataclass
class ChaosPlan:
    """The slot of every authorized return, and the order the warehouse acts in."""

    authorized: list[str]
    slots: dict[str, str] = field(default_factory=dict)
    """return id -> slot (a :func:`slot_name`, or a cancellation)."""
    events: dict[str, tuple[str, bool]] = field(default_factory=dict)
    """return id -> the DataFactory event (and randomize flag) the warehouse sends."""

    @property
    def cancelled_before(self) -> list[str]:
        """Returns the merchant cancels before they ship."""
        return [r for r in self.authorized if self.slots.get(r) == CANCELLED_BEFORE]

    @property
    def cancelled_after(self) -> list[str]:
        """Returns the merchant cancels once they are in transit."""
        return [r for r in self.authorized if self.slots.get(r) == CANCELLED_AFTER]

    @property
    def shipped(self) -> list[str]:
        """Returns the warehouse acts on (everything not cancelled before shipping)."""
        return [r for r in self.authorized if r in self.events]

    def mark_no_rma(self, return_ids: Iterable[str]) -> None:
        """The bridge never created these RMAs (planted intake exceptions): nothing shipped."""
        for rid in return_ids:
            if rid in self.events:
                del self.events[rid]
                self.slots[rid] = NO_RMA

    def expected(self, return_id: str) -> Expected:
        """The drift the plan leaves on one return (none for a return outside the plan)."""
        return EXPECTED_DRIFT.get(self.slots.get(return_id, ""), Expected())

    def slot_counts(self) -> dict[str, int]:
        """How many returns each slot got."""
        counts: dict[str, int] = {}
        for slot in self.slots.values():
            counts[slot] = counts.get(slot, 0) + 1
        return dict(sorted(counts.items()))


def make_plan(authorized: Iterable[str]) -> ChaosPlan:
    """Assign every authorized return its slot (ids in numeric order, so runs repeat)."""
    ids = sorted(set(authorized), key=lambda r: (len(r), r))
    plan = ChaosPlan(authorized=ids)
    in_transit = 0
    n = 0
    for i, rid in enumerate(ids):
        if i % CANCEL_EVERY == 0:
            plan.slots[rid] = CANCELLED_BEFORE
            continue
        event, randomize = WAREHOUSE_PLAN[n % len(WAREHOUSE_PLAN)]
        n += 1
        plan.events[rid] = (event, randomize)
        plan.slots[rid] = slot_name(event, randomize)
        if event == "inTransit":
            if in_transit % CANCEL_AFTER_EVERY == 0:
                plan.slots[rid] = CANCELLED_AFTER
            in_transit += 1
    return plan
