"""Stage 3 steps: a received RMA becomes a refund in Returnly, never twice.

Guards, in order: the ledger's refund attempt (unique key); a fresh re-read of the Returnly
return (a refund already there is recorded, not repeated); the idempotency key sent with the
POST; and the sandbox/real API refusing a second refund (409), which is read back as done.
"""

from __future__ import annotations

import logging

from clients.ams import AmsClient, Rma
from clients.returnly import Return, ReturnlyClient, ReturnlyConflictError
from core.mapping import customer_identifier_for
from core.merchant import MerchantConfig
from core.refunds import RefundDecision, decide_refund
from ledger import Ledger, Link, StageNote
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
    """Refund what AMS received for one return, under the merchant's policy, exactly once.

    ``rma`` is the AMS record when the caller has just read it (the arrival poll); otherwise
    it is read here. The Returnly return is always re-read right before deciding.
    """
    link = ledger.get_link(merchant.name, return_id=return_id)
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
    key = decision.refund_key
    lines = [ln.model_dump(mode="json") for ln in decision.lines]
    attempt, _created = ledger.begin_refund(merchant.name, return_id, key, lines)
    if attempt.status in ("succeeded", "already_refunded"):
        return ReturnOutcome.of(merchant, return_id, "already_done", f"refund {attempt.refund_id}")
    try:
        refund = returnly.create_refund(decision.to_refund_create(ret), idempotency_key=key)
    except ReturnlyConflictError:
        return _settle_existing(ledger, merchant, returnly.get_return(return_id), decision)
    ledger.complete_refund(key, refund.id, refund.refund_amount)
    stage = stages.PARTIALLY_REFUNDED if decision.open_units or decision.held else stages.REFUNDED
    ledger.upsert_link(
        merchant.name,
        return_id,
        link.customer_identifier,
        stage=stage,
        history=StageNote(
            "completion",
            "refunded",
            {"refund_id": refund.id, "amount": str(refund.refund_amount), "key": key},
        ),
    )
    logger.info("return %s refunded: %s (%s)", return_id, refund.refund_amount, refund.id)
    return ReturnOutcome.of(
        merchant, return_id, "refunded", f"{refund.refund_amount} ({refund.id})"
    )
