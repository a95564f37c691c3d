"""Drift between what both sides (and the ledger) say about the same return.

Status compatibility is a table (:data:`STATUS_CONFLICTS`), looked up as a 2-D array indexed
by both phase codes; every other rule is a handful of column comparisons.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from core.drift.hits import (
    HIGH,
    LOW,
    MEDIUM,
    HitRows,
    RuleInput,
    coalesce_times,
    latest_times,
    make_hits,
)
from core.drift.statuses import A_PHASES, R_PHASES
from core.drift.text import ints, join_labels, money, signed_money

_ACTIVE_RMA: Final = ("open", "in_transit", "arrived", "receiving")

STATUS_CONFLICTS: Final[dict[tuple[str, tuple[str, ...]], int]] = {
    ("canceled", _ACTIVE_RMA): MEDIUM,
    ("canceled", ("received",)): HIGH,
    ("refunded", ("deleted", "undeliverable")): HIGH,
    ("pending_refund", ("deleted", "undeliverable")): HIGH,
    ("authorized", ("deleted", "undeliverable")): MEDIUM,
    ("in_transit", ("deleted", "undeliverable")): MEDIUM,
    ("delivered", ("deleted", "undeliverable")): MEDIUM,
    ("requested", (*_ACTIVE_RMA, "received")): LOW,
}
"""(Returnly phase, AMS phases) -> severity. Unlisted combinations are compatible (lags
between the systems, or unknown statuses, which are a review matter rather than drift)."""


def _status_matrix() -> np.ndarray:
    matrix = np.full((len(R_PHASES), len(A_PHASES)), -1, dtype=np.int8)
    for (r_phase, a_phases), severity in STATUS_CONFLICTS.items():
        for a_phase in a_phases:
            matrix[R_PHASES.index(r_phase), A_PHASES.index(a_phase)] = severity
    return matrix


_MATRIX: Final = _status_matrix()


def _paired(x: RuleInput) -> np.ndarray:
    return np.asarray(x.p["r_present"].to_numpy() & x.a_live(), dtype=bool)


def _last_update(x: RuleInput) -> pd.Series:
    return latest_times(x.p["r_updated_at"], x.p["a_updated_at"])


def status_mismatch(x: RuleInput) -> pd.DataFrame:
    """Statuses the two systems cannot both be right about (e.g. canceled vs open RMA)."""
    p = x.p
    severity = _MATRIX[p["r_phase"].to_numpy(), p["a_phase"].to_numpy()]
    mask = p["r_present"].to_numpy() & p["a_present"].to_numpy() & (severity >= 0)

    def detail(_rows: HitRows, idx: np.ndarray) -> pd.Series:
        r = x.pairs.text("returnly", "status", idx)
        a = x.pairs.text("ams", "status", idx)
        return "Returnly " + r + ", AMS " + a

    return make_hits(x, mask, severity, _last_update(x), detail)


def quantity_mismatch(x: RuleInput) -> pd.DataFrame:
    """Units returned vs on the RMA vs received vs refunded disagree.

    Over-refund (high) is worse than under-refund (medium); RMA quantities differing from the
    return are medium; short or over receipt alone is low and does not block healing, since a
    partial receipt is refunded for what arrived.
    """
    p = x.p
    over_refund = (p["s_over_refunded_units"].to_numpy() > 0) & (p["a_received"].to_numpy() > 0)
    under_refund = x.r_in("refunded") & (p["s_under_refunded_units"].to_numpy() > 0)
    differs = p["s_quantity_differs"].to_numpy() > 0
    over_received = p["s_over_received"].to_numpy() > 0
    short = x.a_in("received") & (p["s_short_received"].to_numpy() > 0)
    ambiguous = over_refund | under_refund | differs | over_received
    mask = _paired(x) & (ambiguous | short)
    severity = np.select([over_refund, under_refund | differs], [HIGH, MEDIUM], default=LOW).astype(
        np.int8
    )

    def detail(rows: HitRows, idx: np.ndarray) -> pd.Series:
        labels = join_labels(
            [
                (over_refund[idx], "over-refund"),
                (under_refund[idx], "under-refund"),
                (differs[idx], "RMA quantity differs"),
                (over_received[idx], "over-receipt"),
                (short[idx], "short receipt"),
            ],
            len(idx),
        )
        return (
            "returned "
            + ints(rows["r_units_returned"])
            + ", RMA "
            + ints(rows["a_quantity"])
            + ", received "
            + ints(rows["a_received"])
            + ", refunded "
            + ints(rows["r_units_refunded"])
            + ": "
            + labels
        )

    return make_hits(x, mask, severity, _last_update(x), detail, ambiguous)


def refund_amount_mismatch(x: RuleInput) -> pd.DataFrame:
    """The refunded amount differs from what the received lines and the policy imply."""
    p = x.p
    diff = p["r_refund_amount"].to_numpy() - p["s_expected_refund"].to_numpy()
    # A hair above the tolerance, so that float noise on cents never counts as drift.
    beyond = np.abs(diff) > p["t_amount_tolerance"].to_numpy() + 1e-6
    mask = (
        p["r_present"].to_numpy()
        & p["a_present"].to_numpy()
        & x.money_out()
        & (p["a_received"].to_numpy() > 0)
        & beyond
    )

    def detail(rows: HitRows, idx: np.ndarray) -> pd.Series:
        return (
            "refunded "
            + money(rows["r_refund_amount"])
            + ", expected "
            + money(rows["s_expected_refund"])
            + " ("
            + signed_money(diff[idx])
            + ")"
        )

    since = coalesce_times(p["r_refunded_at"], p["r_updated_at"])
    return make_hits(x, mask, np.where(diff > 0, HIGH, MEDIUM), since, detail)


def sku_mismatch(x: RuleInput) -> pd.DataFrame:
    """The return's SKUs and the RMA's SKUs are not the same set."""
    p = x.p
    r_only = p["s_r_only"].to_numpy()
    a_only = p["s_a_only"].to_numpy()
    mask = _paired(x) & ((r_only > 0) | (a_only > 0))
    skus = x.pairs.skus

    def detail(rows: HitRows, idx: np.ndarray) -> pd.Series:
        r_eg = skus.r_only_example.iloc[idx].reset_index(drop=True)
        a_eg = skus.a_only_example.iloc[idx].reset_index(drop=True)
        return (
            "only in Returnly: "
            + ints(rows["s_r_only"])
            + (" (" + r_eg + ")").fillna("")
            + "; only in AMS: "
            + ints(rows["s_a_only"])
            + (" (" + a_eg + ")").fillna("")
        )

    return make_hits(x, mask, MEDIUM, _last_update(x), detail)


def ledger_disagrees(x: RuleInput) -> pd.DataFrame:
    """The bridge's ledger and the systems of record tell different stories."""
    p = x.p
    r_present = p["r_present"].to_numpy()
    l_present = p["l_present"].to_numpy()
    l_refunded = p["l_refunded"].to_numpy()
    l_rma = p["l_rma_created"].to_numpy()
    money_out, live = x.money_out(), x.a_live()
    says_refunded = l_present & r_present & l_refunded & ~money_out
    says_rma = l_present & r_present & l_rma & ~live
    missed_refund = l_present & r_present & ~l_refunded & money_out
    missed_rma = l_present & r_present & ~l_rma & live
    mask = says_refunded | says_rma | missed_refund | missed_rma
    severity = np.select(
        [says_refunded, says_rma | missed_refund], [HIGH, MEDIUM], default=LOW
    ).astype(np.int8)

    def detail(_rows: HitRows, idx: np.ndarray) -> pd.Series:
        stage = x.pairs.text("ledger", "stage", idx).fillna("none")
        labels = join_labels(
            [
                (says_refunded[idx], "ledger says refunded, Returnly shows no refund"),
                (says_rma[idx], "ledger says RMA created, AMS has no live RMA"),
                (missed_refund[idx], "refund missing from the ledger"),
                (missed_rma[idx], "RMA missing from the ledger"),
            ],
            len(idx),
            sep="; ",
        )
        return "stage " + stage + ": " + labels

    return make_hits(x, mask, severity, _last_update(x), detail)
