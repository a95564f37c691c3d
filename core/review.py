"""The review queue as people read it: one row per open exception, a summary by reason.

Pure: the ledger's rows come in as :class:`QueueItem`, table rows and markdown go out. Every
row says what happened and what to do about it (:func:`suggested_action`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

MESSAGE_CHARS = 240
"""A row's "what happened" is cut here; ``bridge review show <id>`` prints all of it."""
OLDEST_SHOWN = 10

_ACTIONS: dict[str, str] = {
    "missing_sku": "add the SKU to the Returnly line (or map it), then retry",
    "invalid_sku": "fix the SKU on the Returnly line, then retry",
    "unknown_sku": "create the SKU in AMS (or correct it in Returnly), then retry",
    "no_line_items": "add line items to the return in Returnly, then retry",
    "invalid_units": "correct the units on the Returnly line, then retry",
    "non_us_without_label": "attach a return label in Returnly, then retry",
    "incomplete_address": "complete the shopper's address in Returnly, then retry",
    "invalid_address": "correct the shopper's address in Returnly, then retry",
    "invalid_tracking_number": "correct the tracking number in Returnly, then retry",
    "exchange_held": "the merchant holds exchanges: create the RMA by hand or resolve",
    "gift_held": "the merchant holds gift returns: create the RMA by hand or resolve",
    "ams_rule": "a bridge mapping bug: report it with this return id",
    "ams_rejected": "read AMS's message, fix the return in Returnly, then retry",
    "ams_duplicate_unreadable": "check the RMA in AMS, then retry",
    "cancel_after_shipped": "the parcel is on its way: tell the warehouse, resolve when settled",
    "cancel_refused": "AMS refused to delete the RMA: delete it in AMS, then resolve",
    "undeliverable": "contact the shopper about a new label, then resolve",
    "unknown_ams_status": "look the RMA up in AMS; retry once the status is known",
    "rma_missing_in_ams": "the RMA vanished from AMS: retry to create it again",
    "rma_without_return": "an RMA the bridge did not create: check it in AMS, then resolve",
    "not_on_original_rma": "an unexpected item arrived: decide with the merchant, then resolve",
    "webhook_unknown_return": "the webhook named a return Returnly does not know: resolve",
    "refund:not_on_original_rma": "an item not on the RMA arrived: refund by hand or resolve",
    "refund:over_receipt": "more units arrived than returned: check AMS, then resolve",
    "refund:unmatched_rma_line": "an RMA line matches no Returnly line: check, then resolve",
    "refund:rma_mismatch": "the RMA belongs to another return: fix the link, then retry",
    "refund:return_canceled": "received after the return was cancelled: decide, then resolve",
    "refund:unknown_return_status": "check the return in Returnly, then retry",
    "refund_unmatched": "a refund the bridge cannot match: compare in Returnly, then resolve",
    "refund_multiple": "more than one refund on the return: recover money, then resolve",
    "refund_remaining_units": "Returnly allows one refund: refund the rest by hand, resolve",
}
HELD_ACTION = "approve, approve with a deduction, or reject (the run's Resume form)"


def suggested_action(reason: str) -> str:
    """What a person should do about an exception of this reason."""
    if reason.startswith("held:"):
        return HELD_ACTION
    return _ACTIONS.get(reason, "look at it, fix the cause, then retry or resolve")


def age_text(seconds: float) -> str:
    """A short human age: ``45m``, ``7h``, ``3d``."""
    if seconds < 3600:
        return f"{max(int(seconds // 60), 0)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


class QueueItem(BaseModel):
    """One open exception with what the table shows about it."""

    model_config = ConfigDict(frozen=True)

    id: int
    merchant: str
    reason: str
    message: str
    return_id: str | None
    rma: str | None
    stage: str | None
    occurrences: int
    created_at: datetime
    review_run: str | None = None
    """The flow run waiting for a decision (held refunds)."""
    deadline: datetime | None = None


def table_rows(items: Sequence[QueueItem], now: datetime) -> list[dict[str, str | int]]:
    """The ``review-<merchant>`` table: oldest first."""
    rows: list[dict[str, str | int]] = []
    for item in sorted(items, key=lambda i: (i.created_at, i.id)):
        message = item.message
        if len(message) > MESSAGE_CHARS:
            message = message[: MESSAGE_CHARS - 1] + "…"
        rows.append(
            {
                "id": item.id,
                "reason": item.reason,
                "age": age_text((now - item.created_at).total_seconds()),
                "return_id": item.return_id or "",
                "rma": item.rma or "",
                "what_happened": message,
                "suggested_action": suggested_action(item.reason),
                "seen": item.occurrences,
                "review_run": item.review_run or "",
            }
        )
    return rows


def summary_markdown(merchant: str, items: Sequence[QueueItem], now: datetime) -> str:
    """Counts by reason and the oldest items, with how to act from the UI and the shell."""
    lines = [f"# Review queue: {merchant}", ""]
    if not items:
        return "\n".join([*lines, "No open exceptions.", ""])
    counts = Counter(i.reason for i in items)
    lines += [f"**{len(items)} open** (table artifact `review-{merchant}`).", ""]
    lines += ["| reason | open | suggested action |", "|---|---:|---|"]
    for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"| {reason} | {n} | {suggested_action(reason)} |")
    lines += ["", f"## Oldest {min(OLDEST_SHOWN, len(items))}", ""]
    lines += ["| id | age | reason | return | RMA |", "|---:|---|---|---|---|"]
    oldest = sorted(items, key=lambda i: (i.created_at, i.id))[:OLDEST_SHOWN]
    for i in oldest:
        age = age_text((now - i.created_at).total_seconds())
        lines.append(f"| {i.id} | {age} | {i.reason} | {i.return_id or ''} | {i.rma or ''} |")
    held = [i for i in items if i.reason.startswith("held:")]
    if held:
        overdue = sum(1 for i in held if i.deadline is not None and i.deadline <= now)
        lines += [
            "",
            f"## Held refunds: {len(held)} waiting for a decision ({overdue} past deadline)",
            "",
            "Open the review run (Runs, state Suspended, `review-<merchant>-<id>`) and press "
            "**Resume**: the form takes approve / reject, a deduction, your name and a note. "
            "Or run the `review-decide/approve` or `review-decide/reject` deployment, or "
            "`bridge review approve|reject <id>`.",
        ]
    lines += [
        "",
        "Other actions: the `review-resolve/review-resolve` and `review-retry/review-retry` "
        "deployments, or `bridge review resolve|retry`.",
        "",
    ]
    return "\n".join(lines)
