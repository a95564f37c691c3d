"""Write accepted messages to the ledger inbox, record rejected ones, hand new ones to Prefect.

The inbox row is the durable point: once :func:`store_items` returns, the sender may be
acknowledged, because the sweeper re-dispatches anything a crash or an outage left behind.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ledger import Ledger
from ledger.models import CODE_LEN, ID_LEN, MERCHANT_LEN
from webhooks.coalesce import DEFAULT_MAX_ITEMS
from webhooks.dispatch import Dispatcher
from webhooks.grammar import printable
from webhooks.limits import MAX_EXCERPT_CHARS

DISPATCH_THREADS = DEFAULT_MAX_ITEMS
"""Messages handed over at once: enough to fill one batch of a batching dispatcher."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboxItem:
    """One normalised inbound message, ready for ``Ledger.put_inbox``."""

    source: str
    message_id: str
    kind: str
    subject_id: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    attempt: int = 0
    """Which hand-off this is (the row's ``dispatches`` so far): 0 for the receiver's."""


@dataclass
class StoreResult:
    """What :func:`store_items` did: the rows it created and how many were already there."""

    new: list[InboxItem] = field(default_factory=list)
    duplicates: int = 0

    @property
    def accepted(self) -> int:
        """Newly stored messages."""
        return len(self.new)


def _cut(value: str | None, limit: int) -> str | None:
    """Claimed values are untrusted: within the column sizes, nothing the database refuses."""
    return printable(value, limit)[:limit] if value is not None else None


def _safe(value: Any, depth: int = 0) -> Any:
    """An excerpt with every string cut and escaped (it holds claims, never trusted text)."""
    if isinstance(value, str):
        return printable(value, MAX_EXCERPT_CHARS)
    if isinstance(value, dict) and depth < 4:
        return {printable(str(k), 64): _safe(v, depth + 1) for k, v in list(value.items())[:20]}
    if isinstance(value, list) and depth < 4:
        return [_safe(v, depth + 1) for v in value[:20]]
    if value is None or isinstance(value, bool | int | float):
        return value
    return printable(str(value), MAX_EXCERPT_CHARS)


def store_items(ledger: Ledger, merchant: str, items: Sequence[InboxItem]) -> StoreResult:
    """Put each item in the inbox once; a message id seen before counts as a duplicate."""
    result = StoreResult()
    for item in items:
        _, created = ledger.put_inbox(
            item.source, item.message_id, merchant, item.kind, item.subject_id, item.payload
        )
        if created:
            result.new.append(item)
        else:
            result.duplicates += 1
            logger.info("duplicate %s message %s for %s", item.source, item.message_id, merchant)
    return result


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def mark_emitted(ledger: Ledger, source: str, message_id: str) -> None:
    """Mark a dispatched message ``emitted`` unless a worker already processed it.

    A previous processing error is kept on the row. The read-then-write leaves a window of a
    few milliseconds in which a very fast worker's ``processed`` could be overwritten; the
    message would then be re-dispatched once more, which processing absorbs (it is idempotent).
    """
    row = ledger.get_inbox(source, message_id)
    if row is None or row.status in ("processed", "rejected", "dead"):
        return
    ledger.mark_inbox(source, message_id, "emitted", error=row.error)


def dispatch_and_mark(
    ledger: Ledger,
    dispatcher: Dispatcher,
    merchant: str,
    item: InboxItem,
) -> bool:
    """Hand one stored message to Prefect; False (and the row left as it is) when that fails."""
    try:
        dispatcher.dispatch(
            merchant,
            item.source,
            item.message_id,
            item.kind,
            item.subject_id,
            attempt=item.attempt,
        )
    except Exception as exc:
        # Not swallowed: the row keeps its status and the sweeper dispatches it again.
        logger.warning(
            "dispatch of %s message %s for %s failed, left for the sweeper: %s",
            item.source,
            item.message_id,
            merchant,
            _describe(exc),
        )
        return False
    try:
        mark_emitted(ledger, item.source, item.message_id)
    except Exception as exc:
        logger.warning(
            "could not mark %s/%s emitted: %s", item.source, item.message_id, _describe(exc)
        )
    return True


def dispatch_all(
    ledger: Ledger, dispatcher: Dispatcher, work: Sequence[tuple[str, InboxItem]]
) -> int:
    """Dispatch ``(merchant, message)`` pairs side by side; returns how many went out.

    Side by side so that a batching dispatcher can group them: each call waits for its group.
    """
    if len(work) <= 1:
        return sum(dispatch_and_mark(ledger, dispatcher, m, item) for m, item in work)
    with ThreadPoolExecutor(max_workers=min(len(work), DISPATCH_THREADS)) as pool:
        return sum(pool.map(lambda w: dispatch_and_mark(ledger, dispatcher, w[0], w[1]), work))


def dispatch_new(
    ledger: Ledger, dispatcher: Dispatcher, merchant: str, items: Sequence[InboxItem]
) -> int:
    """Dispatch freshly stored messages (run after the 2xx); returns how many went out."""
    return dispatch_all(ledger, dispatcher, [(merchant, item) for item in items])


def record_rejection(
    ledger: Ledger,
    source: str,
    merchant: str,
    reason: str,
    *,
    kind: str | None,
    excerpt: dict[str, Any],
    claimed_message_id: str | None = None,
    subject_id: str | None = None,
) -> None:
    """Keep a refused request for review.

    ``excerpt`` must already be safe: built from an allow-list of fields, never the raw body.
    """
    ledger.reject_inbox(
        _cut(source, CODE_LEN) or "unknown",
        _cut(merchant, MERCHANT_LEN) or "",
        _cut(kind, CODE_LEN) or "unknown",
        _safe(excerpt),
        printable(reason, 500),
        claimed_message_id=_cut(claimed_message_id, ID_LEN),
        subject_id=_cut(subject_id, ID_LEN),
    )
