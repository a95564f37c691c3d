"""What a drift rule sees (:class:`RuleInput`) and what it answers (a hits frame)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from core.drift.pairs import Pairs
from core.drift.statuses import A_PHASES, R_PHASES, phase_is, phase_mask

SEVERITIES: Final = ("low", "medium", "high", "critical")
"""Severity categories, least severe first (the ordered categorical's order)."""
LOW, MEDIUM, HIGH, CRITICAL = range(4)

HITS_COLUMNS: Final = ("key", "severity", "since", "detail", "ambiguous")
"""A rule's answer: key, int severity code, when the drift started, detail text, and whether
the finding makes the whole return ambiguous (which forbids healing any of its drift)."""


@dataclass(frozen=True, slots=True)
class RuleInput:
    """The per-identity facts, the way back to strings, and the reconciliation instant."""

    pairs: Pairs
    now: pd.Timestamp

    @property
    def p(self) -> pd.DataFrame:
        """The per-identity frame (see :mod:`core.drift.pairs` for its columns)."""
        return self.pairs.frame

    def r_in(self, *phases: str) -> np.ndarray:
        """Returnly side in one of ``phases``."""
        return phase_mask(self.p["r_phase"].to_numpy(), R_PHASES, frozenset(phases))

    def a_in(self, *phases: str) -> np.ndarray:
        """AMS side in one of ``phases``."""
        return phase_mask(self.p["a_phase"].to_numpy(), A_PHASES, frozenset(phases))

    def a_live(self) -> np.ndarray:
        """An AMS RMA exists and is not deleted."""
        present = np.asarray(self.p["a_present"].to_numpy(), dtype=bool)
        deleted = phase_is(self.p["a_phase"].to_numpy(), A_PHASES, "deleted")
        return np.asarray(present & ~deleted, dtype=bool)

    def money_out(self) -> np.ndarray:
        """Returnly shows a refund: an amount, refunded units, or the ``refunded`` status."""
        p = self.p
        paid = (p["r_refund_amount"].to_numpy() > 0) | (p["r_units_refunded"].to_numpy() > 0)
        return np.asarray(paid | self.r_in("refunded"), dtype=bool)

    def older_than(self, since: pd.Series, limit: pd.Series) -> np.ndarray:
        """``now - since`` strictly greater than ``limit`` (NaT never counts)."""
        over = ((self.now - since) > limit).to_numpy(dtype=bool, na_value=False)
        return np.asarray(over, dtype=bool)


class HitRows:
    """Columns of the per-identity frame restricted to the hit rows, gathered on demand."""

    def __init__(self, frame: pd.DataFrame, idx: np.ndarray) -> None:
        self._frame = frame
        self._idx = idx

    def __getitem__(self, column: str) -> pd.Series:
        return pd.Series(self._frame[column].to_numpy()[self._idx])


DetailFn = Callable[[HitRows, np.ndarray], pd.Series]
"""Builds detail texts from the hit rows of the per-identity frame and their keys."""


def make_hits(
    x: RuleInput,
    mask: np.ndarray,
    severity: np.ndarray | int,
    since: pd.Series,
    detail: DetailFn,
    ambiguous: np.ndarray | bool = True,
) -> pd.DataFrame:
    """Select the hit rows and describe them; all arguments except ``detail`` are per key."""
    idx = np.flatnonzero(mask)
    rows = HitRows(x.p, idx)
    return pd.DataFrame(
        {
            "key": idx.astype(np.int64),
            "severity": np.broadcast_to(np.asarray(severity, dtype=np.int8), mask.shape)[idx],
            "since": since.iloc[idx].reset_index(drop=True),
            "detail": detail(rows, idx).reset_index(drop=True).astype("str"),
            "ambiguous": np.broadcast_to(np.asarray(ambiguous, dtype=bool), mask.shape)[idx],
        }
    )


def coalesce_times(first: pd.Series, second: pd.Series) -> pd.Series:
    """``first`` where known, else ``second``."""
    return first.where(first.notna(), second)


def latest_times(first: pd.Series, second: pd.Series) -> pd.Series:
    """The later of two timestamps, ignoring NaT."""
    later = first.where(~(second > first), second)
    return coalesce_times(later, second)
