"""What the merchant policy says a return's refund should be, line by line (vectorised).

Per SKU of a return: units the warehouse received sellable are refundable up to the units the
shopper returned; non-sellable units fill the rest of the returned units and are refunded at
``damaged_refund_fraction`` of the unit price (0 = held for review, the default policy).

When one SKU is on several Returnly lines (bought twice, at different prices), the received
units fill those lines in Returnly order, sellable units first, exactly as the bridge allocates
them (``core.refunds.allocation``): the expected amount is priced line by line, not at the
SKU's average price, which would call the bridge's own refund of a partial receipt drift.
"""

from __future__ import annotations

import numpy as np


def refundable_units(
    returned: np.ndarray, sellable: np.ndarray, non_sellable: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(sellable units refundable, non-sellable units refundable), both capped by ``returned``."""
    full = np.minimum(sellable, returned)
    partial = np.minimum(non_sellable, returned - full)
    return full, partial


def expected_refund(
    line_pair: np.ndarray,
    line_units: np.ndarray,
    line_price: np.ndarray,
    sellable: np.ndarray,
    non_sellable: np.ndarray,
    damaged_fraction: np.ndarray,
) -> np.ndarray:
    """Expected refund per Returnly line: received units fill the lines of their (return, SKU)
    pair in row order, sellable ones first; ``line_pair`` indexes the per-pair arrays."""
    if len(line_pair) == 0:
        return np.zeros(0, dtype=np.float64)
    order = np.argsort(line_pair, kind="stable")
    pair = line_pair[order]
    units = np.maximum(line_units[order], 0)
    before = np.cumsum(units) - units
    starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    group_base = np.repeat(before[starts], np.diff(np.r_[starts, len(pair)]))
    before -= group_base
    good = sellable[pair]
    reach = good + non_sellable[pair]
    full = np.clip(good - before, 0, units)
    partial = np.clip(reach - before, 0, units) - full
    sorted_amount = (full + damaged_fraction[pair] * partial) * line_price[order]
    amount = np.empty(len(line_pair), dtype=np.float64)
    amount[order] = sorted_amount
    return amount


def expected_refunded_units(
    returned: np.ndarray,
    sellable: np.ndarray,
    non_sellable: np.ndarray,
    damaged_fraction: np.ndarray,
) -> np.ndarray:
    """Units the refund should cover: sellable ones, plus non-sellable ones if paid at all."""
    full, partial = refundable_units(returned, sellable, non_sellable)
    return full + np.where(damaged_fraction > 0, partial, 0)
