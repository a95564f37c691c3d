"""The drift taxonomy as a table: kind -> rule, healing, suggested action.

Order matters only for presentation: it is the order of the ``kind`` categorical.
Healing (issue 4 §4) is limited to re-running intake or completion, and only when no other
finding on the same return makes it ambiguous.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from core.drift.hits import RuleInput
from core.drift.rules_compare import (
    ledger_disagrees,
    quantity_mismatch,
    refund_amount_mismatch,
    sku_mismatch,
    status_mismatch,
)
from core.drift.rules_lifecycle import (
    authorized_no_rma,
    orphan_rma,
    received_not_refunded,
    refunded_not_received,
    stuck_in_transit,
)


@dataclass(frozen=True, slots=True)
class Rule:
    """One drift kind."""

    kind: str
    find: Callable[[RuleInput], pd.DataFrame]
    healable: bool
    """Whether the healer may act on it (still subject to no ambiguous finding on the return)."""
    action: str
    """What a person (or the healer) should do; shown in the report."""


RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "refunded_not_received",
        refunded_not_received,
        False,
        "Money out without goods: trace the parcel or recover the refund (never auto-healed).",
    ),
    Rule(
        "authorized_no_rma",
        authorized_no_rma,
        True,
        "Re-run intake to create the AMS RMA.",
    ),
    Rule(
        "received_not_refunded",
        received_not_refunded,
        True,
        "Re-run completion to refund the received units.",
    ),
    Rule(
        "orphan_rma",
        orphan_rma,
        False,
        "Find the Returnly return or the shopper for this RMA; link it or close it in AMS.",
    ),
    Rule(
        "quantity_mismatch",
        quantity_mismatch,
        False,
        "Compare units returned, on the RMA, received and refunded; correct by hand.",
    ),
    Rule(
        "refund_amount_mismatch",
        refund_amount_mismatch,
        False,
        "Check the refund against the received lines and the merchant policy; adjust by hand.",
    ),
    Rule(
        "status_mismatch",
        status_mismatch,
        False,
        "Align the two systems by hand (e.g. delete the RMA of a canceled return).",
    ),
    Rule(
        "sku_mismatch",
        sku_mismatch,
        False,
        "Compare the line items; fix the RMA or review the unexpected items.",
    ),
    Rule(
        "stuck_in_transit",
        stuck_in_transit,
        False,
        "Check the carrier tracking; contact the shopper or close the return.",
    ),
    Rule(
        "ledger_disagrees",
        ledger_disagrees,
        False,
        "Review, then repair the ledger entry from the systems of record.",
    ),
)

KINDS: Final[tuple[str, ...]] = tuple(rule.kind for rule in RULES)
"""Every drift kind, in report order."""
