"""SKU-level comparison of a return's lines with its RMA's lines, summed back per identity.

Both sides are summed per (identity, SKU) first, so several lines of one SKU (one per order
line on Returnly, several inspections on AMS) compare as one. Line sets:

- a SKU is *only in Returnly* when no original RMA line carries it;
- a SKU is *only in AMS* when Returnly has no line for it (original or ``not_on_original_rma``);
- SKUs on both sides compare units returned vs RMA quantity vs received vs refunded.

Lines with no SKU (header-only rows) take no part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from core.drift.keys import group_codes
from core.drift.policy import expected_refund, expected_refunded_units


@dataclass(frozen=True, slots=True)
class SkuFacts:
    """Per-identity sums of the SKU-level comparison (arrays of length ``n``)."""

    r_only: np.ndarray
    """Number of SKUs returned in Returnly but not on the RMA."""
    a_only: np.ndarray
    """Number of SKUs on the RMA (or received) but not in the Returnly return."""
    r_only_example: pd.Series
    """Alphabetically first SKU only in Returnly (NA when none)."""
    a_only_example: pd.Series
    """Alphabetically first SKU only in AMS (NA when none)."""
    quantity_differs: np.ndarray
    """SKUs on both sides whose returned units differ from the RMA quantity."""
    short_received: np.ndarray
    """SKUs on the RMA received below their RMA quantity."""
    over_received: np.ndarray
    """SKUs on the RMA received above their RMA quantity."""
    over_refunded_units: np.ndarray
    """Units refunded beyond min(received, returned), summed over SKUs."""
    under_refunded_units: np.ndarray
    """Units the policy says to refund that were not refunded, summed over SKUs."""
    expected_refund: np.ndarray
    """Refund amount the received lines and the policy imply."""


def _sum(index: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(index, weights=weights, minlength=size)


def sku_facts(
    returnly: pd.DataFrame,
    r_keys: np.ndarray,
    r_keep: np.ndarray,
    ams: pd.DataFrame,
    a_keys: np.ndarray,
    a_keep: np.ndarray,
    n: int,
    damaged_fraction: np.ndarray,
    paired: np.ndarray,
) -> SkuFacts:
    """Compare the kept lines of both sides SKU by SKU.

    ``r_keep``/``a_keep`` select the lines of the one entity kept per identity;
    ``damaged_fraction`` and ``paired`` (both sides present) are per key, and line-set
    differences are only counted for paired identities.
    """
    codes, skus = pd.factorize(pd.concat([returnly["sku"], ams["sku"]], ignore_index=True))
    width = max(len(skus), 1)
    r_sku, a_sku = codes[: len(returnly)], codes[len(returnly) :]
    r_ok, a_ok = r_keep & (r_sku >= 0), a_keep & (a_sku >= 0)
    pair_codes, pairs = group_codes(
        np.concatenate([r_keys[r_ok] * width + r_sku[r_ok], a_keys[a_ok] * width + a_sku[a_ok]])
    )
    m = len(pairs)
    rc, ac = pair_codes[: int(r_ok.sum())], pair_codes[int(r_ok.sum()) :]
    key = (pairs // width).astype(np.int64)
    sku = (pairs % width).astype(np.int64)

    def r_col(name: str) -> np.ndarray:
        return np.asarray(returnly[name].to_numpy()[r_ok], dtype=np.float64)

    def a_col(name: str) -> np.ndarray:
        return np.asarray(ams[name].to_numpy()[a_ok], dtype=np.float64)

    original = ~ams["not_on_original_rma"].to_numpy()[a_ok]
    r_lines = _sum(rc, np.ones(len(rc)), m)
    a_orig_lines = _sum(ac, original.astype(np.float64), m)
    a_lines = _sum(ac, np.ones(len(ac)), m)
    returned = _sum(rc, r_col("units_returned"), m)
    refunded = _sum(rc, r_col("units_refunded"), m)
    quantity = _sum(ac, a_col("quantity") * original, m)
    received = _sum(ac, a_col("quantity_received"), m)
    sellable = _sum(ac, a_col("units_sellable"), m)
    non_sellable = _sum(ac, a_col("units_non_sellable"), m)

    r_only = (r_lines > 0) & (a_orig_lines == 0) & paired[key]
    a_only = (r_lines == 0) & (a_lines > 0) & paired[key]
    on_rma = a_orig_lines > 0
    both = (r_lines > 0) & on_rma
    fraction = damaged_fraction[key]
    over = np.maximum(refunded - np.minimum(received, returned), 0)
    owed = expected_refunded_units(returned, sellable, non_sellable, fraction)
    return SkuFacts(
        r_only=_count(key, r_only, n),
        a_only=_count(key, a_only, n),
        r_only_example=_first_sku(key, sku, r_only, skus, n),
        a_only_example=_first_sku(key, sku, a_only, skus, n),
        quantity_differs=_count(key, both & (returned != quantity), n),
        short_received=_count(key, on_rma & (received < quantity), n),
        over_received=_count(key, on_rma & (received > quantity), n),
        over_refunded_units=_sum(key, over, n).astype(np.int64),
        under_refunded_units=_sum(key, np.maximum(owed - refunded, 0), n).astype(np.int64),
        expected_refund=_sum(
            key,
            _sum(
                rc,
                expected_refund(
                    rc,
                    r_col("units_returned"),
                    r_col("unit_price"),
                    sellable,
                    non_sellable,
                    fraction,
                ),
                m,
            ),
            n,
        ),
    )


def _count(key: np.ndarray, flag: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(key[flag], minlength=n).astype(np.int64)


def _first_sku(
    key: np.ndarray, sku: np.ndarray, flag: np.ndarray, skus: pd.Index | np.ndarray, n: int
) -> pd.Series:
    """Alphabetically first flagged SKU per key (only flagged rows are touched)."""
    labels = pd.Index(skus, dtype="str")
    rank = np.empty(len(labels), dtype=np.int64)
    order = labels.argsort()
    rank[order] = np.arange(len(labels))
    best = pd.Series(rank[sku[flag]]).groupby(key[flag]).min()
    code = np.full(n, -1, dtype=np.int64)
    code[best.index.to_numpy()] = order[best.to_numpy()]
    return pd.Series(labels.array.take(code, allow_fill=True), dtype="str")
