"""Stage 3 steps: a received RMA becomes a refund in Returnly, never twice.

Guards, in order: the ledger's refund attempt (unique key); a fresh re-read of the Returnly
return (a refund already there is recorded, not repeated); the idempotency key sent with the
POST; and the sandbox/real API refusing a second refund (409), which is read back as done.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

from clients.ams import AmsClient, Rma
from clients.returnly import Refund, Return, ReturnlyClient, ReturnlyConflictError
from core.mapping import customer_identifier_for
from core.merchant import MerchantConfig
from core.refunds import RefundDecision, decide_refund
from ledger import DONE_STATUSES, Ledger, Link, LinkChange, RefundClaim, RefundDone, StageNote
from tasks import stages
from tasks.outcomes import ReturnOutcome

logger = logging.getLogger(__name__)


def _read_rma(link: Link, ams: AmsClient) -> Rma | None:
    if link.ams_uuid:
        found = ams.get_rmas_by_id([link.ams_uuid])
        if found:
            return found[0]
    return ams.get_rma_by_cid(link.customer_identifier)


def _record_findings(ledger: Ledger, merchant: MerchantConfig, decision: RefundDecision) -> None:
    """Every issue and every held unit becomes an exception a person can act on."""
    for issue in decision.issues:
        ledger.raise_exception(
            merchant.name,
            f"refund:{issue.code.value}",
            issue.message,
            issue.model_dump(mode="json"),
            return_id=decision.return_id,
            stage="completion",
            source="bridge",
        )
    if decision.held:
        reasons = sorted({h.reason.value for h in decision.held})
        ledger.raise_exception(
            merchant.name,
            f"held:{','.join(reasons)}",
            "; ".join(h.message for h in decision.held),
            {"held": [h.model_dump(mode="json") for h in decision.held]},
            return_id=decision.return_id,
            stage="completion",
            source="bridge",
        )


def _settle_existing(
    ledger: Ledger, merchant: MerchantConfig, ret: Return, decision: RefundDecision
) -> ReturnOutcome:
    """Returnly already shows a refund: record it (closing any attempt a crash left pending)."""
    refund = ret.refunds[0] if ret.refunds else None
    for attempt in ledger.refunds_for_return(merchant.name, ret.id):
        if attempt.status == "pending":
            ledger.complete_refund(
                attempt.key,
                refund.id if refund else None,
                refund.refund_amount if refund else ret.refund_amount,
                status="already_refunded",
            )
    if decision.refundable:
        ledger.raise_exception(
            merchant.name,
            "refund_remaining_units",
            "received units remain unrefunded but Returnly allows one refund per return",
            {"lines": [ln.model_dump(mode="json") for ln in decision.lines]},
            return_id=ret.id,
            stage="completion",
            source="bridge",
        )
    ledger.upsert_link(
        merchant.name,
        ret.id,
        customer_identifier_for(ret.id),
        stage=stages.REFUNDED,
        history=StageNote("completion", "already_refunded"),
    )
    return ReturnOutcome.of(merchant, ret.id, "already_done", "Returnly already shows a refund")


class _Cleared(NamedTuple):
    """A return that passed every check and is about to be refunded."""

    link: Link
    ret: Return
    decision: RefundDecision
    key: str
    """The refund's idempotency key (``decision.refund_key``, known to be set here)."""


def _assess(
    merchant: MerchantConfig,
    return_id: str,
    link: Link | None,
    rma: Rma | None,
    *,
    ledger: Ledger,
    returnly: ReturnlyClient,
    ams: AmsClient,
    dry_run: bool,
) -> ReturnOutcome | _Cleared:
    """Everything before the refund: the outcome when the return stops here, else cleared."""
    if link is None:
        return ReturnOutcome.of(merchant, return_id, "skipped", "no RMA linked to this return")
    if link.stage in (stages.REFUNDED, stages.CANCELLED):
        return ReturnOutcome.of(merchant, return_id, "already_done", f"stage {link.stage}")
    if rma is None or rma.customer_identifier != link.customer_identifier:
        rma = _read_rma(link, ams)
    if rma is None or (rma.status or "").lower() != "received":
        status = rma.status if rma else "missing"
        return ReturnOutcome.of(merchant, return_id, "skipped", f"RMA not received ({status})")
    ret = returnly.get_return(return_id)
    decision = decide_refund(ret, rma, merchant.policy)
    _record_findings(ledger, merchant, decision)
    if ret.is_refunded:
        return _settle_existing(ledger, merchant, ret, decision)
    if not decision.refundable or decision.refund_key is None:
        ledger.upsert_link(
            merchant.name,
            return_id,
            link.customer_identifier,
            stage=stages.HELD,
            history=StageNote("completion", "held", {"why": decision.no_refund_reason}),
        )
        return ReturnOutcome.of(
            merchant, return_id, "held", decision.no_refund_reason or "nothing to refund"
        )
    if dry_run:
        amount = decision.expected_refund_amount
        return ReturnOutcome.of(merchant, return_id, "planned", f"would refund {amount}")
    return _Cleared(link, ret, decision, decision.refund_key)


def _refunded(item: _Cleared, refund: Refund) -> RefundDone:
    """The ledger record of a refund just made: the attempt done, the link moved on."""
    decision, key = item.decision, item.key
    stage = stages.PARTIALLY_REFUNDED if decision.open_units or decision.held else stages.REFUNDED
    note = {"refund_id": refund.id, "amount": str(refund.refund_amount), "key": key}
    link = LinkChange(
        item.ret.id,
        item.link.customer_identifier,
        stage=stage,
        history=StageNote("completion", "refunded", note),
    )
    return RefundDone(key, refund.id, refund.refund_amount, link=link)


def _refund_cleared(
    merchant: MerchantConfig,
    cleared: Sequence[_Cleared],
    *,
    ledger: Ledger,
    returnly: ReturnlyClient,
) -> dict[str, ReturnOutcome]:
    """Claim every refund in one transaction, post each, record the results in one more.

    Refunds already posted are recorded even when a later one fails (``finally``), so a
    retry of the batch finds them done instead of re-reading them as someone else's.
    """
    claims = ledger.begin_refunds(
        merchant.name,
        [RefundClaim(c.ret.id, c.key, _wire_lines(c.decision)) for c in cleared],
    )
    outcomes: dict[str, ReturnOutcome] = {}
    done: list[RefundDone] = []
    try:
        for item, (attempt, _created) in zip(cleared, claims, strict=True):
            rid = item.ret.id
            if attempt.status in DONE_STATUSES:
                outcomes[rid] = ReturnOutcome.of(
                    merchant, rid, "already_done", f"refund {attempt.refund_id}"
                )
                continue
            try:
                refund = returnly.create_refund(
                    item.decision.to_refund_create(item.ret), idempotency_key=item.key
                )
            except ReturnlyConflictError:
                outcomes[rid] = _settle_existing(
                    ledger, merchant, returnly.get_return(rid), item.decision
                )
                continue
            done.append(_refunded(item, refund))
            logger.info("return %s refunded: %s (%s)", rid, refund.refund_amount, refund.id)
            outcomes[rid] = ReturnOutcome.of(
                merchant, rid, "refunded", f"{refund.refund_amount} ({refund.id})"
            )
    finally:
        ledger.finish_refunds(merchant.name, done)
    return outcomes


def _wire_lines(decision: RefundDecision) -> list[dict[str, Any]]:
    return [ln.model_dump(mode="json") for ln in decision.lines]


def complete_returns(
    merchant: MerchantConfig,
    return_ids: Sequence[str],
    *,
    ledger: Ledger,
    returnly: ReturnlyClient,
    ams: AmsClient,
    dry_run: bool = False,
    rmas: Sequence[Rma] = (),
) -> list[ReturnOutcome]:
    """Refund what AMS received for a batch of returns, per the merchant's policy, exactly once.

    ``rmas`` are AMS records the caller has just read (the arrival poll); others are read
    here. Each Returnly return is always re-read right before deciding. The ledger is read
    once and written in two transactions for the batch's refunds (claims, then results).
    """
    wanted = list(dict.fromkeys(return_ids))
    links = {lk.return_id: lk for lk in ledger.links_for(merchant.name, return_ids=wanted)}
    by_cid = {r.customer_identifier: r for r in rmas}
    outcomes: dict[str, ReturnOutcome] = {}
    cleared: list[_Cleared] = []
    for rid in wanted:
        rma = by_cid.get(customer_identifier_for(rid))
        checked = _assess(
            merchant,
            rid,
            links.get(rid),
            rma,
            ledger=ledger,
            returnly=returnly,
            ams=ams,
            dry_run=dry_run,
        )
        if isinstance(checked, ReturnOutcome):
            outcomes[rid] = checked
        else:
            cleared.append(checked)
    if cleared:
        outcomes.update(_refund_cleared(merchant, cleared, ledger=ledger, returnly=returnly))
    return [outcomes[rid] for rid in return_ids]


def complete_return(
    merchant: MerchantConfig,
    return_id: str,
    *,
    ledger: Ledger,
    returnly: ReturnlyClient,
    ams: AmsClient,
    dry_run: bool = False,
    rma: Rma | None = None,
) -> ReturnOutcome:
    """:func:`complete_returns` for one return (webhooks, replays, healing)."""
    return complete_returns(
        merchant,
        [return_id],
        ledger=ledger,
        returnly=returnly,
        ams=ams,
        dry_run=dry_run,
        rmas=[rma] if rma else [],
    )[0]
