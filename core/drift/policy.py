"""What the merchant policy says a return's refund should be, line by line (vectorised).

Per SKU of a return: units the warehouse received sellable are refundable up to the units the
shopper returned; non-sellable units fill the rest of the returned units and are refunded at
``damaged_refund_fraction`` of the unit price (0 = held for review, the default policy).
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
    returned: np.ndarray,
    sellable: np.ndarray,
    non_sellable: np.ndarray,
    unit_price: np.ndarray,
    damaged_fraction: np.ndarray,
) -> np.ndarray:
    """Expected refund amount per SKU line: (full + fraction * partial) * unit price."""
    full, partial = refundable_units(returned, sellable, non_sellable)
    return np.asarray((full + damaged_fraction * partial) * unit_price, dtype=np.float64)


def expected_refunded_units(
    returned: np.ndarray,
    sellable: np.ndarray,
    non_sellable: np.ndarray,
    damaged_fraction: np.ndarray,
) -> np.ndarray:
    """Units the refund should cover: sellable ones, plus non-sellable ones if paid at all."""
    full, partial = refundable_units(returned, sellable, non_sellable)
    return full + np.where(damaged_fraction > 0, partial, 0)
