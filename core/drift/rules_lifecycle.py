"""Drift of the return lifecycle: a stage that did not happen on the other side in time.

Each rule answers a hits frame (:func:`core.drift.hits.make_hits`); the table in
:mod:`core.drift.rules` gives each its kind, healing and suggested action.
"""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from core.drift.hits import (
    CRITICAL,
    HIGH,
    LOW,
    MEDIUM,
    HitRows,
    RuleInput,
    coalesce_times,
    latest_times,
    make_hits,
)
from core.drift.statuses import R_NEEDS_RMA
from core.drift.text import ints, money, where_text


def authorized_no_rma(x: RuleInput) -> pd.DataFrame:
    """Returnly expects the goods, AMS has no RMA at all, past the intake grace period.

    A deleted RMA is not "no RMA": someone removed it on purpose (status_mismatch).
    """
    p = x.p
    mask = (
        p["r_present"].to_numpy()
        & ~p["a_present"].to_numpy()
        & x.r_in(*R_NEEDS_RMA)
        & x.older_than(p["r_created_at"], p["t_authorized_no_rma_grace"])
    )
    moving = x.r_in("in_transit", "delivered", "pending_refund")
    status = x.pairs.text("returnly", "status", np.flatnonzero(mask))
    return make_hits(
        x,
        mask,
        np.where(moving, HIGH, MEDIUM),
        p["r_created_at"],
        lambda _rows, _idx: "Returnly " + status + ", no RMA in AMS",
        ambiguous=False,
    )


def orphan_rma(x: RuleInput) -> pd.DataFrame:
    """A live AMS RMA whose identity Returnly does not know (warehouse-created or stray)."""
    p = x.p
    mask = (
        x.a_live()
        & ~p["r_present"].to_numpy()
        & x.older_than(p["a_created_at"], p["t_orphan_rma_grace"])
    )
    received = p["a_received"].to_numpy() > 0

    def detail(rows: HitRows, idx: np.ndarray) -> pd.Series:
        status = x.pairs.text("ams", "status", idx)
        got = ints(rows["a_received"])
        return "AMS " + status + ", no Returnly return; " + got + " unit(s) received"

    return make_hits(
        x, mask, np.where(received, HIGH, MEDIUM), p["a_created_at"], detail, ambiguous=False
    )


def received_not_refunded(x: RuleInput) -> pd.DataFrame:
    """AMS received refundable units, Returnly shows no refund, past the completion grace."""
    p = x.p
    received_at = coalesce_times(p["a_received_at"], p["a_updated_at"])
    mask = (
        p["r_present"].to_numpy()
        & x.a_in("received")
        & x.r_in(*R_NEEDS_RMA)
        & ~x.money_out()
        & (p["s_under_refunded_units"].to_numpy() > 0)
        & x.older_than(received_at, p["t_received_not_refunded_grace"])
    )

    def detail(rows: HitRows, idx: np.ndarray) -> pd.Series:
        status = x.pairs.text("returnly", "status", idx)
        return (
            "received "
            + ints(rows["a_received"])
            + " unit(s) ("
            + ints(rows["a_sellable"])
            + " sellable), "
            + ints(rows["s_under_refunded_units"])
            + " refundable; Returnly "
            + status
            + ", no refund"
        )

    return make_hits(x, mask, MEDIUM, received_at, detail, ambiguous=False)


def refunded_not_received(x: RuleInput) -> pd.DataFrame:
    """Money out without goods: Returnly refunded, AMS received nothing (or has no RMA).

    Critical whenever money moved; a bare ``refunded`` status with no amount and no units
    is high (the return was closed, but nothing was paid).
    """
    p = x.p
    mask = p["r_present"].to_numpy() & x.money_out() & (p["a_received"].to_numpy() == 0)
    paid = (p["r_refund_amount"].to_numpy() > 0) | (p["r_units_refunded"].to_numpy() > 0)
    since = coalesce_times(p["r_refunded_at"], p["r_updated_at"])

    def detail(rows: HitRows, idx: np.ndarray) -> pd.Series:
        ams = x.pairs.text("ams", "status", idx)
        where = where_text(rows["a_present"].to_numpy(), "AMS " + ams, "no RMA in AMS")
        return (
            "refunded "
            + money(rows["r_refund_amount"])
            + " for "
            + ints(rows["r_units_refunded"])
            + " unit(s); "
            + where
            + ", nothing received"
        )

    return make_hits(x, mask, np.where(paid, CRITICAL, HIGH), since, detail)


def stuck_in_transit(x: RuleInput) -> pd.DataFrame:
    """In transit on either side and no progress on either side for too long."""
    p = x.p
    last = latest_times(p["r_updated_at"], p["a_updated_at"])
    limit = p["t_stuck_in_transit_after"]
    mask = (
        (x.r_in("in_transit") | x.a_in("in_transit"))
        & ~x.r_in("refunded", "canceled")
        & ~x.a_in("arrived", "receiving", "received", "deleted", "undeliverable")
        & x.older_than(last, limit)
    )
    very = x.older_than(last, limit * 2)

    def detail(_rows: HitRows, idx: np.ndarray) -> pd.Series:
        r = x.pairs.text("returnly", "status", idx).fillna("none")
        a = x.pairs.text("ams", "status", idx).fillna("none")
        return "no progress in transit: Returnly " + r + ", AMS " + a

    return make_hits(x, mask, np.where(very, MEDIUM, LOW), last, detail, ambiguous=False)
