"""Which open review exception explains which drift kind, and what a person should do then.

A drift row is *explained* when the same return has an open review exception whose reason
says why the systems disagree: a return held at intake because its SKU is missing has no RMA
on purpose, so its ``authorized_no_rma`` row must send a person to the SKU, not to "re-run
intake" (which would only hold it again). The table is matched in order, first match wins,
against the ledger's reason strings (``mapping:<codes>``, ``held:<reasons>``,
``refund:<code>``, or a plain reason); a reason the table does not know explains nothing,
and no exception ever explains money out without goods (``refunded_not_received``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from core.drift.rules import KINDS


@dataclass(frozen=True, slots=True)
class Explanation:
    """Exceptions whose reason fully matches ``pattern`` explain these drift ``kinds``."""

    pattern: str
    """A regular expression over the whole reason."""
    kinds: frozenset[str]
    action: str
    """What to do instead of the drift rule's own action."""


def _codes(prefix: str, *codes: str) -> str:
    """A ``prefix:a,b,c`` reason naming at least one of ``codes``."""
    return rf"{prefix}:(?:[^,]*,)*(?:{'|'.join(codes)})(?:,[^,]*)*"


_NO_RMA = frozenset({"authorized_no_rma"})
_LINES = frozenset({"sku_mismatch", "quantity_mismatch"})
_REFUND = frozenset({"received_not_refunded", "refund_amount_mismatch", "quantity_mismatch"})
_ROUTE = frozenset({"status_mismatch", "stuck_in_transit"})

EXPLANATIONS: Final[tuple[Explanation, ...]] = (
    Explanation(
        _codes("mapping", "missing_sku", "invalid_sku", "unknown_sku"),
        _NO_RMA,
        "Held at intake for its SKU: correct the SKU on the Returnly return or add it to the "
        "AMS catalog first (intake holds it again until then), then resolve the exception.",
    ),
    Explanation(
        _codes("mapping", "exchange_held", "gift_held"),
        _NO_RMA,
        "Held at intake by the exchange/gift policy: a person decides whether it gets an RMA, "
        "then resolves the exception.",
    ),
    Explanation(
        r"mapping:.*",
        _NO_RMA,
        "Held at intake: fix what the exception names on the Returnly return (intake holds it "
        "again until then), then resolve the exception.",
    ),
    Explanation(
        r"ams_rejected",
        _NO_RMA,
        "AMS refused the RMA: correct what AMS's message names, then resolve the exception.",
    ),
    Explanation(
        r"ams_duplicate_unreadable",
        _NO_RMA | {"ledger_disagrees"},
        "AMS holds this identifier but cannot show it: find the RMA in AMS by hand and link "
        "it, then resolve the exception.",
    ),
    Explanation(
        r"(?:refund:)?unknown_return_status",
        _NO_RMA | {"status_mismatch", "received_not_refunded"},
        "Returnly shows a status the bridge does not act on: finish the return by hand in "
        "Returnly, then resolve the exception.",
    ),
    Explanation(
        r"cancel_after_shipped|cancel_refused",
        _ROUTE,
        "Cancelled after the RMA moved on: let the warehouse receive or refuse the parcel, "
        "close the RMA, then resolve the exception.",
    ),
    Explanation(
        r"rma_without_return",
        frozenset({"orphan_rma"}),
        "AMS RMA with no Returnly return the bridge knows: find the return or the shopper, "
        "link or close the RMA, then resolve the exception.",
    ),
    Explanation(
        r"rma_missing_in_ams",
        _NO_RMA | {"ledger_disagrees", "status_mismatch"},
        "The ledger links an RMA AMS no longer has: confirm in AMS, recreate or close it by "
        "hand, then resolve the exception.",
    ),
    Explanation(
        r"undeliverable",
        _ROUTE,
        "The carrier could not deliver: contact the shopper or close the return, then "
        "resolve the exception.",
    ),
    Explanation(
        r"unknown_ams_status",
        _ROUTE,
        "AMS shows a status the bridge does not know: check the RMA in AMS, then resolve "
        "the exception.",
    ),
    Explanation(
        r"held:.*",
        _REFUND,
        "Refund held for review: approve it, approve it with a deduction, or reject it.",
    ),
    Explanation(
        r"(?:refund:)?not_on_original_rma|refund:unmatched_rma_line|refund:rma_mismatch",
        _LINES | _REFUND,
        "The warehouse received items the RMA did not expect: decide on them, then resolve "
        "the exception.",
    ),
    Explanation(
        r"refund:over_receipt",
        _LINES | _REFUND,
        "More units received than returned: check the receipt, then resolve the exception.",
    ),
    Explanation(
        r"refund:return_canceled",
        frozenset({"status_mismatch", "received_not_refunded"}),
        "Goods received for a cancelled return: refund or send them back by hand, then "
        "resolve the exception.",
    ),
    Explanation(
        r"refund_unmatched|refund_multiple",
        _REFUND | {"ledger_disagrees"},
        "Returnly's refunds do not match the bridge's attempt and the bridge will not refund "
        "again: settle the refunds by hand, then resolve the exception.",
    ),
    Explanation(
        r"refund_remaining_units",
        _REFUND,
        "Units arrived after the one refund Returnly allows: refund them by hand (e.g. store "
        "credit), then resolve the exception.",
    ),
)

EXPLAINS: Final = np.array(
    [[kind in e.kinds for kind in KINDS] for e in EXPLANATIONS], dtype=bool
).reshape(len(EXPLANATIONS), len(KINDS))
"""``EXPLAINS[family, kind_code]``: whether that family of reasons explains that drift kind."""
ACTIONS: Final = np.array([e.action for e in EXPLANATIONS], dtype=object)


def reason_family(reasons: pd.Series) -> np.ndarray:
    """Per reason, the index of the first matching :data:`EXPLANATIONS` entry (-1: none)."""
    text = reasons.astype("str").fillna("")
    family = np.full(len(text), -1, dtype=np.int64)
    for code, entry in enumerate(EXPLANATIONS):
        hit = text.str.fullmatch(entry.pattern).to_numpy(dtype=bool, na_value=False)
        family[(family < 0) & hit] = code
    return family
