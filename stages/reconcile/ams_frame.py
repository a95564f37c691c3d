"""AMS RMAs as the ``AMS_LINES`` drift frame (one row per RMA line).

Receipt comes from ``receiving_details`` (the inspection result, contracts §B.7/§B.9), the
line's ``quantity_received`` only when there are no details (as the refund rules do).
``units_sellable`` are the units received in a status the merchant refunds in full: exactly
``available`` under the default policy; a merchant whose policy also refunds, say, ``qc`` gets
those counted too, so the drift expectation matches what completion really refunds.
Everything else received is ``units_non_sellable``. An RMA the warehouse created without a
``customer_identifier`` gets the identity ``AMS-<id>``: it can never match a return.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from clients.ams import Rma, RmaLine
from core.drift import AMS_LINES
from core.policy import MerchantPolicy
from stages.reconcile.rows import Row, Rows

WAREHOUSE_IDENTITY_PREFIX: Final = "AMS-"
"""Identity of an RMA without a customer_identifier (created at the warehouse)."""
UNKNOWN_STATUS: Final = "unknown"


class SellableStatuses:
    """Which received inventory statuses the merchant refunds in full (memoised per status)."""

    def __init__(self, policy: MerchantPolicy) -> None:
        self._policy = policy
        self._known: dict[str, bool] = {}

    def __call__(self, status: str) -> bool:
        known = self._known.get(status)
        if known is None:
            known = self._known[status] = self._policy.rule_for(status).action == "refund"
        return known


def identity_of(rma: Rma) -> str:
    """The drift identity of an RMA (its customer_identifier, else ``AMS-<id>``)."""
    return rma.customer_identifier or f"{WAREHOUSE_IDENTITY_PREFIX}{rma.id}"


def receipt(line: RmaLine, sellable: SellableStatuses) -> tuple[int, int, int]:
    """(received, sellable, non-sellable) units of one line."""
    by_status = line.received_by_status()
    detailed = sum(n for n in by_status.values() if n > 0)
    received = detailed if detailed else max(line.quantity_received or 0, 0)
    good = sum(n for status, n in by_status.items() if n > 0 and sellable(status))
    return received, good, max(received - good, 0)


def _first_time(*values: datetime | None) -> datetime | None:
    return next((v for v in values if v is not None), None)


def rma_rows(merchant: str, rma: Rma, sellable: SellableStatuses, now: datetime) -> list[Row]:
    """The frame rows of one RMA (one per line; one header-only row without lines).

    ``now`` stands in for a creation date AMS did not send (never seen, but the frame's key
    columns may not be missing).
    """
    created = _first_time(rma.created_at, rma.updated_at, rma.received_at) or now
    header = (
        merchant,
        identity_of(rma),
        rma.id,
        rma.status or UNKNOWN_STATUS,
        created,
        rma.updated_at or created,
        rma.received_at,
    )
    rows: list[Row] = []
    for line in rma.line_items:
        received, good, other = receipt(line, sellable)
        quantity = 0 if line.not_on_original_rma else max(line.quantity, 0)
        sku = line.customer_sku_id or None
        rows.append((*header, sku, quantity, received, good, other, line.not_on_original_rma))
    return rows or [(*header, None, 0, 0, 0, 0, False)]


class RmaSink:
    """RMAs mapped to rows as they arrive (thread-safe), with what the fetch still needs."""

    def __init__(self, merchant: str, policy: MerchantPolicy, now: datetime) -> None:
        self.merchant = merchant
        self.rows = Rows(AMS_LINES, "ams")
        self.customer_identifiers: set[str] = set()
        """Every customer_identifier seen on an added RMA."""
        self._sellable = SellableStatuses(policy)
        self._now = now

    def add(self, rmas: Iterable[Rma]) -> int:
        """Map and add RMAs not seen before; answers how many were new."""
        batch = list(rmas)
        groups = ((m.id, rma_rows(self.merchant, m, self._sellable, self._now)) for m in batch)
        added = set(self.rows.add(groups))
        self.customer_identifiers.update(
            m.customer_identifier for m in batch if m.id in added and m.customer_identifier
        )
        return len(added)

    def frame(self) -> pd.DataFrame:
        """The validated ``AMS_LINES`` frame."""
        return self.rows.frame()


def rmas_frame(
    merchant: str, rmas: Iterable[Rma], policy: MerchantPolicy, now: datetime
) -> pd.DataFrame:
    """The validated ``AMS_LINES`` frame of these RMAs (see :func:`rma_rows` for ``now``)."""
    sink = RmaSink(merchant, policy, now)
    sink.add(rmas)
    return sink.frame()
