"""Process one stored inbox message (a webhook or callback) through the stage it hints at.

Returnly webhooks are hints: the return is re-read through the authenticated API before
acting, so a forged, stale or reordered message cannot cause a wrong effect. AMS callbacks
are authenticated (their token was checked before they were stored) and carry the RMA, which
is used as the record unless the merchant's policy says re-read (``reread_ams_callbacks``);
reordering is harmless because a return's stage never moves backwards.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict

from clients.ams import AmsClient, Rma
from core.merchant import MerchantConfig
from ledger import InboxMessage, Ledger
from ledger.inbox import SOURCE_AMS, SOURCE_RETURNLY
from platforms import PlatformLike, Return, ReturnsPlatform, as_platform
from stages import names
from stages.arrival import received_return_ids, record_rmas, stage_rank
from stages.completion import complete_returns
from stages.intake import intake_returns
from stages.outcomes import ReturnOutcome

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
            ledger.mark_inbox(ref.source, ref.message_id, "failed", error=error)
        else:
            ledger.mark_inbox(ref.source, ref.message_id, "processed")
        marked.append(f"{ref.source}/{ref.message_id}")
    return marked


def process_inbox_message(
    merchant: MerchantConfig,
    source: str,
    message_id: str,
    *,
    ledger: Ledger,
    returnly: PlatformLike,
    ams: AmsClient,
) -> list[ReturnOutcome]:
    """One message: :func:`process_inbox_batch` of one, so both paths read the same way."""
    if ledger.get_inbox(source, message_id) is None:
        raise LookupError(f"no inbox message {source}/{message_id}")
    return process_inbox_batch(
        merchant, source, [message_id], ledger=ledger, returnly=returnly, ams=ams
    )


def _reread_returns(
    merchant: MerchantConfig, return_ids: list[str], *, ledger: Ledger, platform: ReturnsPlatform
) -> list[Return]:
    """The named returns, re-read (webhooks are hints); an unknown one becomes an exception."""
    found: list[Return] = []
    for return_id in dict.fromkeys(return_ids):
        try:
            found.append(platform.read_return(return_id))
        except platform.errors.not_found:
            ledger.open_exception(
                merchant.name,
                "webhook_unknown_return",
                f"webhook named return {return_id} which Returnly does not know",
                {"return_id": return_id},
                return_id=return_id,
                stage="intake",
                source="returnly",
            )
    return found


def carried_rma(message: InboxMessage) -> Rma | None:
    """The RMA record an authenticated callback carried, when it carried enough to act on.

    v1.0 items are the full RMA; a v2.0 receipt carries it in ``details``; a v2.0 carrier scan
    (``tendered``, ``inTransit``…) names only the RMA and its new status, which is all the
    arrival step records for it. Anything else (no id, an event name that is not a status)
    is ``None``: the RMA is re-read.
    """
    payload = message.payload if isinstance(message.payload, dict) else {}
    item = payload.get("item")
    if not isinstance(item, dict):
        return None
    try:
        if str(payload.get("api_version") or "").startswith("2"):
            details = item.get("details")
            if isinstance(details, dict):
                rma = Rma.from_api(details)
                if not rma.status:
                    rma = rma.model_copy(update={"status": str(payload.get("event") or "")})
                return rma if rma.customer_identifier == message.subject_id else None
            event, rma_id = payload.get("event"), payload.get("rma_id")
            if not (isinstance(rma_id, str) and rma_id) or event == "received":
                return None  # a receipt without its details: read what was received
            if names.stage_for_ams_status(str(event or "")) is None:
                return None
            return Rma(id=rma_id, customer_identifier=message.subject_id, status=str(event))
        rma = Rma.from_api(item)
    except (ValueError, TypeError):
        return None
    return rma if rma.customer_identifier == message.subject_id else None


def callback_rmas(
    merchant: MerchantConfig, messages: list[InboxMessage], *, ams: AmsClient
) -> list[Rma]:
    """The RMA records a batch of callbacks is about: carried ones as they came, unless the
    merchant's policy says re-read; the rest re-read 30 ids per GET. One record per RMA
    (the furthest along, so a reordered older event does not hide a receipt)."""
    carried: list[Rma] = []
    reread: list[InboxMessage] = []
    for message in messages:
        rma = None if merchant.policy.reread_ams_callbacks else carried_rma(message)
        if rma is None:
            reread.append(message)
        else:
            carried.append(rma)
    best: dict[str, Rma] = {}
    for rma in carried + (_reread_rmas(reread, ams=ams) if reread else []):
        key = rma.customer_identifier or rma.id
        if key not in best or _progress(rma) >= _progress(best[key]):
            best[key] = rma
    return list(best.values())


def _progress(rma: Rma) -> int:
    return stage_rank(names.stage_for_ams_status(rma.status) or "")


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
    returnly: PlatformLike,
    ams: AmsClient,
) -> list[ReturnOutcome]:
    """Several messages of one merchant and source as one unit of work, then marked processed.

    Returnly hints: each return re-read, then one intake for all (one AMS POST per 30).
    AMS hints: the RMA each callback carried (or, where it carried none or the policy says
    so, re-read 30 ids per GET), recorded, and the received ones completed in one batch from
    those same records (no second read). The stages are idempotent, so a message also
    handled elsewhere is harmless.
    A failure marks every message of the batch failed and re-raises (the task retries).
    """
    platform = as_platform(returnly)
    rows = [ledger.get_inbox(source, mid) for mid in dict.fromkeys(message_ids)]
    todo = [row for row in rows if row is not None and row.status not in ("processed", "rejected")]
    if not todo:
        return []
    try:
        if source == SOURCE_RETURNLY:
            returns = _reread_returns(
                merchant,
                [row.subject_id or "" for row in todo],
                ledger=ledger,
                platform=platform,
            )
            outcomes = intake_returns(merchant, returns, ledger=ledger, ams=ams) if returns else []
        elif source == SOURCE_AMS:
            rmas = callback_rmas(merchant, todo, ams=ams)
            outcomes = record_rmas(merchant, rmas, ledger=ledger)
            received = received_return_ids(outcomes)
            if received:
                outcomes += complete_returns(
                    merchant, received, ledger=ledger, returnly=platform, ams=ams, rmas=rmas
                )
        else:
            raise ValueError(f"unknown inbox source {source!r}")
    except Exception as exc:
        for row in todo:
            ledger.mark_inbox(
                source, row.message_id, "failed", error=f"{type(exc).__name__}: {exc}"
            )
        raise
    for row in todo:
        ledger.mark_inbox(source, row.message_id, "processed")
    return outcomes
