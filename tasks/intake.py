"""Stage 1 steps: authorized Returnly returns become AMS RMAs, exactly once; cancellations.

Exactly once rests on AMS refusing a second RMA with the same customer_identifier: a duplicate
is read back and counted as already done, whatever crashed or ran twice before.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from clients.ams import AmsClient, RmaCreate, in_batches
from clients.returnly import CANCELED_STATUSES, Return
from core.mapping import customer_identifier_for, map_return_to_rma
from core.merchant import MerchantConfig
from ledger import ExceptionNote, Ledger, Link, LinkChange, StageNote
from tasks import stages
from tasks.outcomes import ReturnOutcome

logger = logging.getLogger(__name__)

INTAKE_STATUSES = frozenset({"authorized", "in_transit", "delivered"})
"""Returns that need an RMA (a lost webhook can leave one in transit without it)."""


class _Holds:
    """Exceptions found in a batch, written with their link changes in one transaction."""

    def __init__(self, merchant: MerchantConfig) -> None:
        self.merchant = merchant
        self.notes: list[ExceptionNote] = []
        self.links: list[LinkChange] = []

    def hold(
        self,
        ret: Return,
        reason: str,
        message: str,
        payload: dict[str, object],
        stage: str = stages.INTAKE_EXCEPTION,
    ) -> ReturnOutcome:
        """An exception a person must look at; the return's link goes to ``stage``."""
        self.notes.append(
            ExceptionNote(reason, message, payload, ret.id, stage="intake", source="bridge")
        )
        self.links.append(
            LinkChange(
                ret.id,
                customer_identifier_for(ret.id),
                rma_number=ret.rma,
                stage=stage,
                history=StageNote("intake", "exception", {"reason": reason}),
            )
        )
        logger.warning("return %s held: %s", ret.id, message)
        return ReturnOutcome.of(self.merchant, ret.id, "exception", f"{reason}: {message}")

    def write(self, ledger: Ledger) -> None:
        """Record everything held so far (and forget it, so a second write adds nothing)."""
        ledger.record_exceptions(self.merchant.name, self.notes, self.links)
        self.notes, self.links = [], []


def _triage(
    holds: _Holds, merchant: MerchantConfig, ret: Return, link: Link | None
) -> ReturnOutcome | RmaCreate | None:
    """Decide what intake does with one return: an outcome now, an RMA to create, or cancel."""
    if ret.status in CANCELED_STATUSES:
        return None
    if ret.status not in INTAKE_STATUSES:
        if not ret.is_actionable:
            return holds.hold(
                ret,
                "unknown_return_status",
                f"Returnly status {ret.status!r} is not one the bridge acts on",
                {"status": ret.status},
            )
        return ReturnOutcome.of(merchant, ret.id, "skipped", f"status {ret.status}")
    if link is not None and link.stage in stages.INTAKE_DONE_STAGES:
        return ReturnOutcome.of(merchant, ret.id, "already_done", f"stage {link.stage}")
    mapped = map_return_to_rma(ret, merchant.policy)
    if not mapped.ok:
        issues = [i.model_dump(mode="json") for i in mapped.issues]
        codes = ",".join(sorted({i.code.value for i in mapped.issues}))
        text = "; ".join(i.message for i in mapped.issues)
        return holds.hold(ret, f"mapping:{codes}", text, {"issues": issues})
    return mapped.rma


def intake_returns(
    merchant: MerchantConfig,
    returns: Sequence[Return],
    *,
    ledger: Ledger,
    ams: AmsClient,
    dry_run: bool = False,
) -> list[ReturnOutcome]:
    """Create the RMAs these returns still need (one batched POST per 30); cancel cancelled ones."""
    holds = _Holds(merchant)
    try:
        return _intake_batch(merchant, returns, holds, ledger=ledger, ams=ams, dry_run=dry_run)
    finally:
        holds.write(ledger)  # also when AMS failed: what was found so far is not lost


def _intake_batch(
    merchant: MerchantConfig,
    returns: Sequence[Return],
    holds: _Holds,
    *,
    ledger: Ledger,
    ams: AmsClient,
    dry_run: bool,
) -> list[ReturnOutcome]:
    outcomes: list[ReturnOutcome] = []
    to_create: list[tuple[Return, RmaCreate]] = []
    known = {lk.return_id: lk for lk in ledger.links_for(merchant.name, return_ids=ids(returns))}
    for ret in returns:
        decided = _triage(holds, merchant, ret, known.get(ret.id))
        if decided is None:
            outcomes.append(cancel_return(merchant, ret, ledger=ledger, ams=ams, dry_run=dry_run))
        elif isinstance(decided, ReturnOutcome):
            outcomes.append(decided)
        else:
            to_create.append((ret, decided))
    if not to_create:
        return outcomes
    if dry_run:
        return outcomes + [
            ReturnOutcome.of(
                merchant, r.id, "planned", f"would create RMA {rma.customer_identifier}"
            )
            for r, rma in to_create
        ]
    for chunk in in_batches(to_create):
        # One POST per 30; links are collected as they come and written by intake_returns
        # even when a later POST fails, so the RMAs already created are never forgotten.
        outcomes += _record_created(merchant, chunk, holds, ledger=ledger, ams=ams)
    return outcomes


def _record_created(
    merchant: MerchantConfig,
    chunk: Sequence[tuple[Return, RmaCreate]],
    holds: _Holds,
    *,
    ledger: Ledger,
    ams: AmsClient,
) -> list[ReturnOutcome]:
    """POST one batch of RMAs and sort each record: created, already there, or refused."""
    records = ams.create_rmas([rma for _, rma in chunk]).by_identifier()
    outcomes: list[ReturnOutcome] = []
    for ret, rma in chunk:
        record = records.get(rma.customer_identifier)
        if record is not None and record.ok:
            holds.links.append(
                LinkChange(
                    ret.id,
                    rma.customer_identifier,
                    rma_number=ret.rma,
                    stage=stages.RMA_CREATED,
                    status="open",
                    history=StageNote("intake", "created"),
                )
            )
            outcomes.append(ReturnOutcome.of(merchant, ret.id, "created"))
        elif record is not None and record.is_duplicate_identifier:
            outcomes.append(_adopt_existing(merchant, ret, holds, ledger=ledger, ams=ams))
        else:
            message = record.summary() if record else "AMS returned no result for this record"
            outcomes.append(
                holds.hold(
                    ret,
                    "ams_rejected",
                    message,
                    {
                        "customer_identifier": rma.customer_identifier,
                        "messages": [m.model_dump() for m in record.messages] if record else [],
                    },
                )
            )
    return outcomes


def ids(returns: Sequence[Return]) -> list[str]:
    """The ids of some returns."""
    return [r.id for r in returns]


def _adopt_existing(
    merchant: MerchantConfig, ret: Return, holds: _Holds, *, ledger: Ledger, ams: AmsClient
) -> ReturnOutcome:
    """AMS says the identifier exists: read it back and record it as already done."""
    cid = customer_identifier_for(ret.id)
    existing = ams.get_rma_by_cid(cid)
    if existing is None or existing.is_deleted:
        return holds.hold(
            ret,
            "ams_duplicate_unreadable",
            f"AMS refused {cid} as a duplicate but no live RMA could be read back",
            {"customer_identifier": cid},
        )
    stage = stages.stage_for_ams_status(existing.status) or stages.RMA_CREATED
    ledger.upsert_link(
        merchant.name,
        ret.id,
        cid,
        rma_number=ret.rma,
        ams_uuid=existing.id,
        stage=stage,
        status=existing.status,
        history=StageNote("intake", "already_done", {"ams_id": existing.id}),
    )
    return ReturnOutcome.of(merchant, ret.id, "already_done", "RMA already in AMS")


def cancel_return(
    merchant: MerchantConfig, ret: Return, *, ledger: Ledger, ams: AmsClient, dry_run: bool = False
) -> ReturnOutcome:
    """A return cancelled in Returnly: delete its AMS RMA while open, else raise an exception."""
    cid = customer_identifier_for(ret.id)
    link = ledger.get_link(merchant.name, return_id=ret.id)
    if link is not None and link.stage == stages.CANCELLED:
        return ReturnOutcome.of(merchant, ret.id, "already_done", "already cancelled")
    rma = ams.get_rma_by_cid(cid)
    if rma is None or rma.is_deleted:
        if link is not None:
            ledger.set_stage(merchant.name, ret.id, stages.CANCELLED, status="deleted")
        ledger.record_stage(merchant.name, ret.id, "cancellation", "no_rma")
        return ReturnOutcome.of(merchant, ret.id, "cancelled", "no live RMA in AMS")
    if (rma.status or "").lower() != "open":
        return _hold_now(
            ledger,
            merchant,
            ret,
            "cancel_after_shipped",
            f"return cancelled in Returnly but its RMA is already {rma.status!r} in AMS",
            {"customer_identifier": cid, "ams_id": rma.id, "ams_status": rma.status},
            stage=stages.CANCEL_EXCEPTION,
        )
    if dry_run:
        return ReturnOutcome.of(merchant, ret.id, "planned", f"would delete RMA {cid}")
    result = ams.delete_rmas([cid])
    record = result.by_identifier().get(cid)
    if record is None or not record.ok:
        return _hold_now(
            ledger,
            merchant,
            ret,
            "cancel_refused",
            record.summary() if record else "AMS returned no result for the delete",
            {"customer_identifier": cid},
            stage=stages.CANCEL_EXCEPTION,
        )
    ledger.upsert_link(
        merchant.name,
        ret.id,
        cid,
        rma_number=ret.rma,
        ams_uuid=rma.id,
        stage=stages.CANCELLED,
        status="deleted",
        history=StageNote("cancellation", "deleted", {"ams_id": rma.id}),
    )
    return ReturnOutcome.of(merchant, ret.id, "cancelled", "RMA deleted in AMS")


def _hold_now(
    ledger: Ledger,
    merchant: MerchantConfig,
    ret: Return,
    reason: str,
    message: str,
    payload: dict[str, object],
    stage: str,
) -> ReturnOutcome:
    """A single-return exception, written at once."""
    holds = _Holds(merchant)
    outcome = holds.hold(ret, reason, message, payload, stage=stage)
    holds.write(ledger)
    return outcome
