"""Re-dispatch inbox messages that never reached (or never finished in) Prefect.

Candidates, oldest first:

- ``pending``: stored but the dispatch failed or the receiver died before it;
- ``emitted`` / ``failed``: handed over (or processed with an error, fewer than
  ``MAX_INBOX_ATTEMPTS`` times) but not processed, and untouched for ``older_than``.

Processed messages are never offered by the ledger, and processing re-checks the status
and is idempotent, so a re-dispatch that overlaps a slow worker does no harm.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from ledger import InboxMessage, Ledger
from webhooks.dispatch import Dispatcher
from webhooks.inbox import InboxItem, dispatch_all

logger = logging.getLogger(__name__)


class SweepResult(BaseModel):
    """Counts of one sweep."""

    examined: int = 0
    dispatched: int = 0
    failed: int = 0
    skipped: int = 0
    """Candidates that changed under us (processed meanwhile) or were touched too recently."""

    def merge(self, other: SweepResult) -> SweepResult:
        """Sum two results."""
        return SweepResult(
            examined=self.examined + other.examined,
            dispatched=self.dispatched + other.dispatched,
            failed=self.failed + other.failed,
            skipped=self.skipped + other.skipped,
        )


def _item(row: InboxMessage) -> InboxItem:
    return InboxItem(row.source, row.message_id, row.kind, row.subject_id)


def _redispatch(
    ledger: Ledger, dispatcher: Dispatcher, rows: list[InboxMessage], cutoff: datetime
) -> SweepResult:
    result = SweepResult(examined=len(rows))
    due: list[InboxMessage] = []
    for row in rows:
        # A row that a worker touched recently is still in someone's hands.
        if row.status != "pending" and row.updated_at >= cutoff:
            result.skipped += 1
            continue
        current = ledger.get_inbox(row.source, row.message_id)
        if current is None or current.status != row.status:
            result.skipped += 1
            continue
        due.append(row)
    sent = dispatch_all(ledger, dispatcher, [(row.merchant, _item(row)) for row in due])
    result.dispatched += sent
    result.failed += len(due) - sent
    return result


def redispatch_inbox(
    ledger: Ledger,
    dispatcher: Dispatcher,
    *,
    older_than: timedelta = timedelta(seconds=60),
    limit: int = 500,
    now: datetime | None = None,
) -> SweepResult:
    """One sweep of at most ``limit`` messages: pending ones first, then stale emitted/failed."""
    if limit <= 0:
        return SweepResult()
    cutoff = (now or datetime.now(UTC)) - older_than
    pending = ledger.pending_inbox(limit, cutoff, statuses=("pending",))
    result = _redispatch(ledger, dispatcher, pending, cutoff)
    seen = {(row.source, row.message_id) for row in pending}  # just marked emitted
    stale = [
        row
        for row in ledger.pending_inbox(
            limit - len(pending), cutoff, statuses=("emitted", "failed")
        )
        if (row.source, row.message_id) not in seen
    ]
    result = result.merge(_redispatch(ledger, dispatcher, stale, cutoff))
    logger.info("inbox sweep: %s", result.model_dump())
    return result
