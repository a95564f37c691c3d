"""Counts for the demo and reports: how much is where, at a glance."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from ledger.models import ExceptionRecord, InboxMessage, Link, RefundAttempt
from ledger.store import Store


def _grouped(
    session: Session,
    column: InstrumentedAttribute[str],
    merchant_column: InstrumentedAttribute[str],
    merchant: str | None,
    *filters: Any,
) -> dict[str, int]:
    query = select(column, func.count()).group_by(column).order_by(column)
    if merchant is not None:
        query = query.where(merchant_column == merchant)
    if filters:
        query = query.where(*filters)
    return {str(key): int(count) for key, count in session.execute(query)}


class SummaryMixin(Store):
    """Read-only aggregate views."""

    def counts(self, merchant: str | None = None) -> dict[str, dict[str, int]]:
        """Links by stage, open exceptions by reason, inbox by status, refunds by status."""
        with self._read() as session:
            return {
                "links_by_stage": _grouped(session, Link.stage, Link.merchant, merchant),
                "open_exceptions_by_reason": _grouped(
                    session,
                    ExceptionRecord.reason,
                    ExceptionRecord.merchant,
                    merchant,
                    ExceptionRecord.status == "open",
                ),
                "inbox_by_status": _grouped(
                    session, InboxMessage.status, InboxMessage.merchant, merchant
                ),
                "refunds_by_status": _grouped(
                    session, RefundAttempt.status, RefundAttempt.merchant, merchant
                ),
            }
