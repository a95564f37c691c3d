"""Status vocabularies of both systems, folded into the few phases the drift rules compare.

Statuses stay opaque strings at the boundary (contracts §A.5, §A.8.3, §B.9: the sources
disagree); here every known spelling maps to a phase, and anything unknown maps to ``other``,
which no rule treats as a disagreement (unknown statuses are a review matter, not drift).
AMS statuses and their phases come from the one status table, :mod:`clients.ams.statuses`.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

R_PHASES: Final = (
    "requested",
    "authorized",
    "in_transit",
    "delivered",
    "pending_refund",
    "refunded",
    "canceled",
    "incomplete",
    "other",
)
"""Returnly phases, in lifecycle order; ``other`` is an unknown status."""

RETURNLY_STATUS_PHASE: Final[dict[str, str]] = {
    "requested": "requested",
    "authorized": "authorized",
    "in_transit": "in_transit",
    "delivered": "delivered",
    "pending_refund": "pending_refund",
    "refunded": "refunded",
    "canceled_by_merchant": "canceled",
    "cancelled": "canceled",
    "canceled": "canceled",
    "incomplete": "incomplete",
}

A_PHASES: Final = (
    "open",
    "in_transit",
    "arrived",
    "receiving",
    "received",
    "undeliverable",
    "deleted",
    "other",
)
"""AMS phases, in lifecycle order; ``other`` is an unknown status."""


R_NEEDS_RMA: Final = frozenset({"authorized", "in_transit", "delivered", "pending_refund"})
"""Returnly phases in which an AMS RMA must exist (the goods are or will be travelling)."""
A_ACTIVE: Final = frozenset({"open", "in_transit", "arrived", "receiving"})
"""AMS phases of an RMA still expecting goods."""


def phase_codes(status: pd.Series, mapping: dict[str, str], phases: tuple[str, ...]) -> np.ndarray:
    """Map a status column to int8 phase codes (index into ``phases``), unknown -> ``other``.

    Works on the few distinct values only (factorize), so it costs one hash pass per column.
    """
    codes, uniques = pd.factorize(status, use_na_sentinel=True)
    other = phases.index("other")
    lookup = np.array(
        [phases.index(mapping.get(str(value), "other")) for value in uniques] + [other],
        dtype=np.int8,
    )
    # The NA sentinel (-1) indexes the appended trailing ``other``.
    return np.asarray(lookup[codes], dtype=np.int8)


def phase_mask(codes: np.ndarray, phases: tuple[str, ...], wanted: frozenset[str]) -> np.ndarray:
    """Boolean mask of the rows whose phase code is in ``wanted``."""
    table = np.zeros(len(phases), dtype=bool)
    table[[phases.index(name) for name in wanted]] = True
    return np.asarray(table[codes], dtype=bool)


def phase_is(codes: np.ndarray, phases: tuple[str, ...], name: str) -> np.ndarray:
    """Boolean mask of the rows in one phase."""
    return np.asarray(codes == phases.index(name), dtype=bool)
