"""The ledger's view of each return as the ``LEDGER`` drift frame (one row per link).

``refunded`` is true once the bridge recorded a refund (a refunded stage or a finished refund
attempt); ``rma_created`` is true while the bridge believes a live RMA exists: from intake's
success until a cancellation deleted it. ``cancel_exception`` keeps it (the delete was refused).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.drift import LEDGER, coerce_frame, empty_frame, validate_frame
from ledger import DONE_STATUSES, Ledger, Link, RefundAttempt
from stages import names

REFUNDED_STAGES: Final = frozenset({names.REFUNDED, names.PARTIALLY_REFUNDED})
RMA_STAGES: Final = names.INTAKE_DONE_STAGES | {names.CANCEL_EXCEPTION}


def read_links(ledger: Ledger, merchant: str) -> list[Link]:
    """Every link of one merchant (detached snapshots), in one query."""
    with Session(ledger.engine, expire_on_commit=False) as session:
        rows = session.scalars(select(Link).where(Link.merchant == merchant).order_by(Link.id))
        return list(rows)


def refunded_return_ids(ledger: Ledger, merchant: str) -> set[str]:
    """Returns with a finished refund attempt in the ledger."""
    query = select(RefundAttempt.return_id).where(
        RefundAttempt.merchant == merchant, RefundAttempt.status.in_(DONE_STATUSES)
    )
    with Session(ledger.engine) as session:
        return {str(rid) for rid in session.scalars(query)}


def ledger_frame(merchant: str, links: Sequence[Link], refunded_ids: set[str]) -> pd.DataFrame:
    """The validated ``LEDGER`` frame of these links."""
    if not links:
        return empty_frame(LEDGER)
    frame = pd.DataFrame(
        {
            "merchant": [merchant] * len(links),
            "customer_identifier": [lk.customer_identifier for lk in links],
            "stage": [lk.stage for lk in links],
            "refunded": [
                lk.stage in REFUNDED_STAGES or lk.return_id in refunded_ids for lk in links
            ],
            "rma_created": [lk.stage in RMA_STAGES for lk in links],
        }
    )
    return validate_frame(coerce_frame(frame, LEDGER), LEDGER, "ledger")
