"""Process one stored inbox message (a webhook or callback) through the stage it hints at.

Messages are hints: the return or RMA is re-read through the authenticated API before acting,
so a forged, stale or reordered message cannot cause a wrong effect.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict

from clients.ams import AmsClient, Rma
from clients.returnly import Return, ReturnlyClient, ReturnlyNotFoundError
from core.merchant import MerchantConfig
from ledger import InboxMessage, Ledger
from ledger.inbox import SOURCE_AMS, SOURCE_RETURNLY
from tasks.arrival import received_return_ids, record_rmas
from tasks.completion import complete_return, complete_returns
from tasks.intake import intake_returns
from tasks.outcomes import ReturnOutcome

logger = logging.getLogger(__name__)


class InboxRef(BaseModel):
    """Names one inbox message; a flow run started by an inbox event gets it as a parameter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    message_id: str


def settle_inbox_messages(
    ledger: Ledger, refs: list[InboxRef], error: str | None = None
) -> list[str]:
    """Mark the messages a run handled ``processed`` (or ``failed`` with ``error``).

    Already processed ones are left alone; unknown ones are skipped. Returns what was marked.
    """
    marked: list[str] = []
    for ref in dict.fromkeys(refs):
        row = ledger.get_inbox(ref.source, ref.message_id)
        if row is None or row.status in ("processed", "rejected"):
            continue
        if error:
            ledger.mark_inbox(ref.message_id, "failed", error=error, source=ref.source)
        else:
            ledger.mark_inbox(ref.message_id, "processed", source=ref.source)
        marked.append(f"{ref.source}/{ref.message_id}")
    return marked


def process_returnly_hint(
    merchant: MerchantConfig,
    return_id: str,
    *,
    ledger: Ledger,
    returnly: ReturnlyClient,
    ams: AmsClient,
) -> list[ReturnOutcome]:
    """A Returnly event about ``return_id``: re-read it, then run intake (or cancellation)."""
    returns = _reread_returns(merchant, [return_id], ledger=ledger, returnly=returnly)
    return intake_returns(merchant, returns, ledger=ledger, ams=ams) if returns else []


def process_ams_hint(
    merchant: MerchantConfig,
    customer_identifier: str | None,
    rma_id: str | None,
    *,
    ledger: Ledger,
    returnly: ReturnlyClient,
    ams: AmsClient,
) -> list[ReturnOutcome]:
    """An AMS rmaEvent: re-read the RMA, record its status, complete it when received."""
    rmas = ams.get_rmas_by_id([rma_id]) if rma_id else []
    if not rmas and customer_identifier:
        found = ams.get_rma_by_cid(customer_identifier)
        rmas = [found] if found else []
    if not rmas:
        logger.warning("rmaEvent for %s / %s: RMA not found in AMS", customer_identifier, rma_id)
        return []
    outcomes = record_rmas(merchant, rmas, ledger=ledger)
    for return_id in received_return_ids(outcomes):
        outcomes.append(
            complete_return(merchant, return_id, ledger=ledger, returnly=returnly, ams=ams)
        )
    return outcomes


def process_inbox_message(
    merchant: MerchantConfig,
    source: str,
    message_id: str,
    *,
    ledger: Ledger,
    returnly: ReturnlyClient,
    ams: AmsClient,
) -> list[ReturnOutcome]:
    """Run the message's stage and mark it processed; a failure marks it failed and re-raises."""
    message = ledger.get_inbox(source, message_id)
    if message is None:
        raise LookupError(f"no inbox message {source}/{message_id}")
    if message.status == "processed":
        return []
    try:
        if source == SOURCE_RETURNLY:
            outcomes = process_returnly_hint(
                merchant, message.subject_id or "", ledger=ledger, returnly=returnly, ams=ams
            )
        elif source == SOURCE_AMS:
            payload = message.payload if isinstance(message.payload, dict) else {}
            outcomes = process_ams_hint(
                merchant,
                message.subject_id,
                payload.get("rma_id"),
                ledger=ledger,
                returnly=returnly,
                ams=ams,
            )
        else:
            raise ValueError(f"unknown inbox source {source!r}")
    except Exception as exc:
        ledger.mark_inbox(message_id, "failed", error=f"{type(exc).__name__}: {exc}", source=source)
        raise
    ledger.mark_inbox(message_id, "processed", source=source)
    return outcomes


def _reread_returns(
    merchant: MerchantConfig, return_ids: list[str], *, ledger: Ledger, returnly: ReturnlyClient
) -> list[Return]:
    """The named returns, re-read (webhooks are hints); an unknown one becomes an exception."""
    found: list[Return] = []
    for return_id in dict.fromkeys(return_ids):
        try:
            found.append(returnly.get_return(return_id))
        except ReturnlyNotFoundError:
            ledger.raise_exception(
                merchant.name,
                "webhook_unknown_return",
                f"webhook named return {return_id} which Returnly does not know",
                {"return_id": return_id},
                return_id=return_id,
                stage="intake",
                source="returnly",
            )
    return found


def _reread_rmas(messages: list[InboxMessage], *, ams: AmsClient) -> list[Rma]:
    """The RMAs the callbacks name, read by id 30 at a time, by identifier where no id came."""
    by_id: dict[str, str | None] = {}
    for message in messages:
        payload = message.payload if isinstance(message.payload, dict) else {}
        rma_id = payload.get("rma_id")
        if isinstance(rma_id, str) and rma_id:
            by_id[rma_id] = message.subject_id
    rmas = ams.get_rmas_by_id(list(by_id)) if by_id else []
    seen = {r.customer_identifier for r in rmas}
    wanted = {m.subject_id for m in messages if m.subject_id} - seen
    for cid in sorted(wanted):
        rma = ams.get_rma_by_cid(cid)
        if rma is None:
            logger.warning("rmaEvent for %s: RMA not found in AMS", cid)
        else:
            rmas.append(rma)
    return rmas


def process_inbox_batch(
    merchant: MerchantConfig,
    source: str,
    message_ids: list[str],
    *,
    ledger: Ledger,
    returnly: ReturnlyClient,
    ams: AmsClient,
) -> list[ReturnOutcome]:
    """Several messages of one merchant and source as one unit of work, then marked processed.

    Returnly hints: each return re-read, then one intake for all (one AMS POST per 30).
    AMS hints: the RMAs re-read 30 ids per GET, recorded, and the received ones completed
    in one batch. The stages are idempotent, so a message also handled elsewhere is harmless.
    A failure marks every message of the batch failed and re-raises (the task retries).
    """
    rows = [ledger.get_inbox(source, mid) for mid in dict.fromkeys(message_ids)]
    todo = [row for row in rows if row is not None and row.status != "processed"]
    if not todo:
        return []
    try:
        if source == SOURCE_RETURNLY:
            returns = _reread_returns(
                merchant,
                [row.subject_id or "" for row in todo],
                ledger=ledger,
                returnly=returnly,
            )
            outcomes = intake_returns(merchant, returns, ledger=ledger, ams=ams) if returns else []
        elif source == SOURCE_AMS:
            rmas = _reread_rmas(todo, ams=ams)
            outcomes = record_rmas(merchant, rmas, ledger=ledger)
            received = received_return_ids(outcomes)
            if received:
                outcomes += complete_returns(
                    merchant, received, ledger=ledger, returnly=returnly, ams=ams, rmas=rmas
                )
        else:
            raise ValueError(f"unknown inbox source {source!r}")
    except Exception as exc:
        for row in todo:
            ledger.mark_inbox(
                row.message_id, "failed", error=f"{type(exc).__name__}: {exc}", source=source
            )
        raise
    for row in todo:
        ledger.mark_inbox(row.message_id, "processed", source=source)
    return outcomes
