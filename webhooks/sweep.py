"""Re-dispatch inbox messages that never reached (or never finished in) Prefect.

Candidates, oldest first:

- ``pending``: stored but the dispatch failed or the receiver died before it. Prefect never
  took these, so nothing ran: they are dispatched again without counting an attempt;
- ``emitted``: handed over but not finished, and untouched for ``older_than``. When the row
  names its flow run (event dispatch: the run claims it) and ``run_states`` can tell, a
  run still going is left alone, a COMPLETED one settles the message as processed, and a
  run that ended otherwise counts as a failed attempt. Without a run, a stale hand-off
  counts as a failed attempt ("no outcome");
- ``failed``: processed with an error, untouched for ``older_than``.

A message with ``max_attempts`` attempts is dead-lettered (status ``dead``, an open
``inbox_dead_letter`` review exception; ``bridge inbox replay`` puts it back). Any other is
dispatched again as hand-off number ``dispatches``, so an event dispatcher posts a new event
id (Prefect's triggers ignore ids they saw in the last 30 minutes).

Processed messages are never offered by the ledger, and processing re-checks the status
and is idempotent, so a re-dispatch that overlaps a slow worker does no harm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from ledger import MAX_INBOX_ATTEMPTS, InboxMessage, Ledger, LedgerConflictError
from webhooks.dispatch import Dispatcher
from webhooks.inbox import InboxItem, dispatch_all

logger = logging.getLogger(__name__)

RunStates = Callable[[Sequence[str]], Mapping[str, str]]
"""Flow run ids -> state type names (``COMPLETED``, ``CRASHED`` ...); unknown runs left out."""

RUN_STILL_GOING = frozenset({"SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"})
_ALL_ATTEMPTS = 2**31 - 1  # ask the ledger for failed rows whatever their attempts


class SweepResult(BaseModel):
    """Counts of one sweep."""

    examined: int = 0
    dispatched: int = 0
    failed: int = 0
    skipped: int = 0
    """Candidates that changed under us (processed meanwhile) or were touched too recently,
    or whose flow run is still going (or could not be read)."""
    settled: int = 0
    """Emitted messages whose flow run had COMPLETED: marked processed, not re-dispatched."""
    dead: int = 0
    """Messages out of attempts: dead-lettered."""

    def merge(self, other: SweepResult) -> SweepResult:
        """Sum two results."""
        return SweepResult(
            **{name: getattr(self, name) + getattr(other, name) for name in type(self).model_fields}
        )


def _item(row: InboxMessage) -> InboxItem:
    return InboxItem(row.source, row.message_id, row.kind, row.subject_id, attempt=row.dispatches)


def _read_states(
    run_states: RunStates | None, rows: list[InboxMessage]
) -> Mapping[str, str] | None:
    """States of the runs the emitted rows name; ``None`` when Prefect could not answer."""
    run_ids = sorted({r.run_id for r in rows if r.status == "emitted" and r.run_id})
    if run_states is None or not run_ids:
        return {}
    try:
        return run_states(run_ids)
    except Exception as exc:
        logger.warning("inbox sweep: flow run states unreadable, runs left alone: %s", exc)
        return None


def _outcome_of(row: InboxMessage, states: Mapping[str, str] | None, now: datetime) -> str | None:
    """Why a stale emitted row counts as a failed attempt, or a verdict word."""
    if row.run_id and states is None:
        return "unknown"
    state = (states or {}).get(row.run_id) if row.run_id else None
    if state == "COMPLETED":
        return "completed"
    if state in RUN_STILL_GOING:
        return "going"
    if state:
        return f"flow run {row.run_id} ended {state}"
    age = int((now - row.updated_at).total_seconds())
    return f"no outcome {age}s after hand-off {row.dispatches}"


def _settle(
    ledger: Ledger,
    row: InboxMessage,
    states: Mapping[str, str] | None,
    now: datetime,
    result: SweepResult,
    max_attempts: int,
) -> InboxMessage | None:
    """Decide one stale row: the row to dispatch again, or ``None`` (counted in ``result``)."""
    try:
        if row.status == "emitted":
            verdict = _outcome_of(row, states, now)
            if verdict in ("unknown", "going"):
                result.skipped += 1
                return None
            if verdict == "completed":
                ledger.mark_inbox(row.source, row.message_id, "processed", expect="emitted")
                result.settled += 1
                return None
            row = ledger.mark_inbox(
                row.source, row.message_id, "failed", error=verdict, expect="emitted"
            )
        if row.status == "failed" and row.attempts >= max_attempts:
            reason = f"{row.attempts} attempts, last: {row.error}"
            ledger.dead_letter_inbox(row.source, row.message_id, reason)
            logger.warning(
                "inbox %s/%s (%s) dead-lettered: %s",
                row.source,
                row.message_id,
                row.merchant,
                reason,
            )
            result.dead += 1
            return None
    except LedgerConflictError:  # processed (or changed) meanwhile
        result.skipped += 1
        return None
    return row


def _redispatch(
    ledger: Ledger,
    dispatcher: Dispatcher,
    rows: list[InboxMessage],
    cutoff: datetime,
    *,
    now: datetime,
    run_states: RunStates | None = None,
    max_attempts: int = MAX_INBOX_ATTEMPTS,
) -> SweepResult:
    result = SweepResult(examined=len(rows))
    states = _read_states(run_states, rows)
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
        settled = current if current.status == "pending" else None
        if settled is None:
            settled = _settle(ledger, current, states, now, result, max_attempts)
        if settled is not None:
            due.append(settled)
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
    run_states: RunStates | None = None,
    max_attempts: int = MAX_INBOX_ATTEMPTS,
) -> SweepResult:
    """One sweep of at most ``limit`` messages: pending ones first, then stale emitted/failed.

    ``run_states`` reads flow run states from Prefect (the ``sweep-inbox`` flow passes one).
    """
    if limit <= 0:
        return SweepResult()
    at = now or datetime.now(UTC)
    cutoff = at - older_than
    pending = ledger.pending_inbox(limit, cutoff, statuses=("pending",))
    result = _redispatch(ledger, dispatcher, pending, cutoff, now=at)
    seen = {(row.source, row.message_id) for row in pending}  # just marked emitted
    stale = [
        row
        for row in ledger.pending_inbox(
            limit - len(pending),
            cutoff,
            statuses=("emitted", "failed"),
            max_attempts=_ALL_ATTEMPTS,
        )
        if (row.source, row.message_id) not in seen
    ]
    more = _redispatch(
        ledger,
        dispatcher,
        stale,
        cutoff,
        now=at,
        run_states=run_states,
        max_attempts=max_attempts,
    )
    result = result.merge(more)
    logger.info("inbox sweep: %s", result.model_dump())
    return result
