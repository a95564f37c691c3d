"""Stage 1 steps: authorized Returnly returns become AMS RMAs, exactly once; cancellations.

Exactly once is the bridge's own, not AMS's uniqueness of ``customer_identifier`` (which is
still used when AMS enforces it: a refused duplicate is read back and counted as done):

- a run creates or deletes a return's RMA only while it holds the lease ``rma:<return id>``;
  a second live run gets ``busy``. Links are re-read under the lease.
- a POST whose answer is lost (5xx, timeout, dropped connection) is followed by a read-back
  by ``customer_identifier``; only the records AMS does not show are posted again.
- a lease left by a crash, or given back in doubt after a failure, is stale for the next
  run, which reads the RMA back before posting anything.
- a DELETE whose answer was lost (or that a retry finds already applied) is confirmed by
  reading the RMA back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from clients.ams import AmsClient, AmsError, Rma, RmaCreate, in_batches
from clients.ams.statuses import OPEN, is_ams_status
from clients.errors import is_retryable
from core.mapping import customer_identifier_for, map_return_to_rma
from core.merchant import MerchantConfig
from ledger import ExceptionNote, HeldLeases, Ledger, Link, LinkChange, StageNote, new_owner
from platforms import CANCELLED_STATUSES, Return
from stages import names
from stages.outcomes import ReturnOutcome

logger = logging.getLogger(__name__)

INTAKE_STATUSES = frozenset({"authorized", "in_transit", "delivered"})
"""Returns that need an RMA (a lost webhook can leave one in transit without it)."""

RMA_POST_ATTEMPTS = 3
"""POSTs of one batch within one lease, each after a read-back of what AMS kept."""


def rma_lease_key(return_id: str) -> str:
    """The ledger lease that lets one run at a time create or delete a return's RMA."""
    return f"rma:{return_id}"


class _Writes:
    """What a batch writes to the ledger in one transaction: its link changes (created,
    adopted or held links) and the review exceptions found on the way."""

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
        stage: str = names.INTAKE_EXCEPTION,
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
                platform_updated_at=ret.updated_at,
            )
        )
        logger.warning("return %s held: %s", ret.id, message)
        return ReturnOutcome.of(self.merchant, ret.id, "exception", f"{reason}: {message}")

    def write(self, ledger: Ledger) -> None:
        """Record everything held so far (and forget it, so a second write adds nothing)."""
        ledger.record_changes(self.merchant.name, self.links, self.notes)
        self.notes, self.links = [], []


def _triage(
    writes: _Writes, merchant: MerchantConfig, ret: Return, link: Link | None
) -> ReturnOutcome | RmaCreate | None:
    """Decide what intake does with one return: an outcome now, an RMA to create, or cancel."""
    if ret.status in CANCELLED_STATUSES:
        return None
    if ret.status not in INTAKE_STATUSES:
        if not ret.is_actionable:
            return writes.hold(
                ret,
                "unknown_return_status",
                f"Returnly status {ret.status!r} is not one the bridge acts on",
                {"status": ret.status},
            )
        return ReturnOutcome.of(merchant, ret.id, "skipped", f"status {ret.status}")
    if link is not None and link.stage in names.INTAKE_DONE_STAGES:
        return ReturnOutcome.of(merchant, ret.id, "already_done", f"stage {link.stage}")
    mapped = map_return_to_rma(ret, merchant.policy)
    if not mapped.ok:
        issues = [i.model_dump(mode="json") for i in mapped.issues]
        codes = ",".join(sorted({i.code.value for i in mapped.issues}))
        text = "; ".join(i.message for i in mapped.issues)
        return writes.hold(ret, f"mapping:{codes}", text, {"issues": issues})
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
    writes = _Writes(merchant)
    try:
        return _intake_batch(merchant, returns, writes, ledger=ledger, ams=ams, dry_run=dry_run)
    finally:
        writes.write(ledger)  # also when AMS failed: what was found so far is not lost


def _intake_batch(
    merchant: MerchantConfig,
    returns: Sequence[Return],
    writes: _Writes,
    *,
    ledger: Ledger,
    ams: AmsClient,
    dry_run: bool,
) -> list[ReturnOutcome]:
    outcomes: list[ReturnOutcome] = []
    to_create: list[tuple[Return, RmaCreate]] = []
    known = {lk.return_id: lk for lk in ledger.links_for(merchant.name, return_ids=ids(returns))}
    for ret in returns:
        decided = _triage(writes, merchant, ret, known.get(ret.id))
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
    return outcomes + _create_leased(merchant, to_create, writes, ledger=ledger, ams=ams)


def _create_leased(
    merchant: MerchantConfig,
    to_create: Sequence[tuple[Return, RmaCreate]],
    writes: _Writes,
    *,
    ledger: Ledger,
    ams: AmsClient,
) -> list[ReturnOutcome]:
    """Take the RMA leases, re-check under them, post what is still missing, give them back.

    The links found are written before the leases are given back; a batch whose POST
    failed without a clear answer gives its leases back in doubt.
    """
    leases = HeldLeases(ledger, merchant.name)
    taken = leases.take([rma_lease_key(r.id) for r, _ in to_create])
    in_doubt: list[str] = []
    outcomes: list[ReturnOutcome] = []
    try:
        mine: list[tuple[Return, RmaCreate]] = []
        for ret, rma in to_create:
            if rma_lease_key(ret.id) in taken:
                mine.append((ret, rma))
            else:
                detail = "another run holds this return's RMA lease"
                outcomes.append(ReturnOutcome.of(merchant, ret.id, "busy", detail))
        now_known = {
            lk.return_id: lk
            for lk in ledger.links_for(merchant.name, return_ids=[r.id for r, _ in mine])
        }
        todo: list[tuple[Return, RmaCreate]] = []
        for ret, rma in mine:
            link = now_known.get(ret.id)
            if link is not None and (
                link.stage in names.INTAKE_DONE_STAGES or link.stage == names.CANCELLED
            ):
                outcomes.append(ReturnOutcome.of(merchant, ret.id, "already_done", link.stage))
            elif taken[rma_lease_key(ret.id)]:
                # An earlier run may have created it and lost the answer: read before posting.
                found = _read_back(merchant, ret, writes, ams=ams)
                if found is None:
                    todo.append((ret, rma))
                else:
                    outcomes.append(found)
            else:
                todo.append((ret, rma))
        for chunk in in_batches(todo):
            # One POST per 30, each only while its leases are held with time to spare (a
            # lease another run took over meanwhile is left to that run); links are written
            # after each POST, so the RMAs already created are never forgotten when a later
            # POST fails.
            still = leases.hold([rma_lease_key(ret.id) for ret, _ in chunk])
            for ret, _ in chunk:
                if rma_lease_key(ret.id) not in still:
                    detail = "RMA lease lost before posting; another run settles it"
                    outcomes.append(ReturnOutcome.of(merchant, ret.id, "busy", detail))
            mine_now = [(ret, rma) for ret, rma in chunk if rma_lease_key(ret.id) in still]
            if not mine_now:
                continue
            keys = [rma_lease_key(ret.id) for ret, _ in mine_now]
            in_doubt += keys
            outcomes += _create_chunk(merchant, mine_now, writes, ams=ams)
            writes.write(ledger)
            in_doubt = in_doubt[: -len(keys)]
    except BaseException:
        in_doubt = list(taken)  # whatever this batch touched may have been applied
        raise
    finally:
        try:
            writes.write(ledger)
        except BaseException:
            in_doubt = list(taken)
            raise
        finally:
            leases.release(in_doubt=in_doubt)
    return outcomes


def _create_chunk(
    merchant: MerchantConfig,
    chunk: Sequence[tuple[Return, RmaCreate]],
    writes: _Writes,
    *,
    ams: AmsClient,
) -> list[ReturnOutcome]:
    """POST one batch; after a failure that may have been applied, read back before reposting."""
    pending = list(chunk)
    outcomes: list[ReturnOutcome] = []
    for attempt in range(1, RMA_POST_ATTEMPTS + 1):
        try:
            return outcomes + _record_created(merchant, pending, writes, ams=ams)
        except AmsError as exc:
            if not is_retryable(exc) or attempt == RMA_POST_ATTEMPTS:
                raise
            logger.warning("AMS create of %d RMAs: %s; reading back", len(pending), exc)
        still: list[tuple[Return, RmaCreate]] = []
        for ret, rma in pending:
            found = _read_back(merchant, ret, writes, ams=ams)
            if found is None:
                still.append((ret, rma))
            else:
                outcomes.append(found)
        pending = still
        if not pending:
            break
    return outcomes


def _read_back(
    merchant: MerchantConfig, ret: Return, writes: _Writes, *, ams: AmsClient
) -> ReturnOutcome | None:
    """The live RMA AMS holds for ``ret``, recorded as already done; ``None`` if there is none."""
    existing = ams.get_rma_by_cid(customer_identifier_for(ret.id))
    if existing is None or existing.is_deleted:
        return None
    return _adopt(merchant, ret, existing, writes)


def _record_created(
    merchant: MerchantConfig,
    chunk: Sequence[tuple[Return, RmaCreate]],
    writes: _Writes,
    *,
    ams: AmsClient,
) -> list[ReturnOutcome]:
    """POST one batch of RMAs and sort each record: created, already there, or refused."""
    records = ams.create_rmas([rma for _, rma in chunk]).by_identifier()
    outcomes: list[ReturnOutcome] = []
    for ret, rma in chunk:
        record = records.get(rma.customer_identifier)
        if record is not None and record.ok:
            writes.links.append(
                LinkChange(
                    ret.id,
                    rma.customer_identifier,
                    rma_number=ret.rma,
                    stage=names.RMA_CREATED,
                    status="open",
                    history=StageNote("intake", "created"),
                    platform_updated_at=ret.updated_at,
                )
            )
            outcomes.append(ReturnOutcome.of(merchant, ret.id, "created"))
        elif record is not None and record.is_duplicate_identifier:
            outcomes.append(_adopt_existing(merchant, ret, writes, ams=ams))
        else:
            message = record.summary() if record else "AMS returned no result for this record"
            outcomes.append(
                writes.hold(
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
    merchant: MerchantConfig, ret: Return, writes: _Writes, *, ams: AmsClient
) -> ReturnOutcome:
    """AMS says the identifier exists: read it back and record it as already done."""
    found = _read_back(merchant, ret, writes, ams=ams)
    if found is not None:
        return found
    cid = customer_identifier_for(ret.id)
    return writes.hold(
        ret,
        "ams_duplicate_unreadable",
        f"AMS refused {cid} as a duplicate but no live RMA could be read back",
        {"customer_identifier": cid},
    )


def _adopt(merchant: MerchantConfig, ret: Return, existing: Rma, writes: _Writes) -> ReturnOutcome:
    """Link ``ret`` to the live RMA AMS already holds for it (written with the batch)."""
    stage = names.stage_for_ams_status(existing.status) or names.RMA_CREATED
    writes.links.append(
        LinkChange(
            ret.id,
            customer_identifier_for(ret.id),
            rma_number=ret.rma,
            ams_uuid=existing.id,
            stage=stage,
            status=existing.status,
            history=StageNote("intake", "already_done", {"ams_id": existing.id}),
            platform_updated_at=ret.updated_at,
        )
    )
    return ReturnOutcome.of(merchant, ret.id, "already_done", "RMA already in AMS")


def cancel_return(
    merchant: MerchantConfig, ret: Return, *, ledger: Ledger, ams: AmsClient, dry_run: bool = False
) -> ReturnOutcome:
    """A return cancelled in Returnly: delete its AMS RMA while open, else raise an exception.

    Done under the return's RMA lease, so it never overlaps a create of the same RMA.
    """
    if dry_run:
        return _cancel(merchant, ret, ledger=ledger, ams=ams, dry_run=True)
    owner = new_owner()
    key = rma_lease_key(ret.id)
    if key not in ledger.take_leases(merchant.name, [key], owner):
        return ReturnOutcome.of(merchant, ret.id, "busy", "another run holds this RMA's lease")
    clean = False
    try:
        outcome = _cancel(merchant, ret, ledger=ledger, ams=ams, dry_run=False)
        clean = True
        return outcome
    finally:
        ledger.release_leases(merchant.name, [key], owner, in_doubt=[] if clean else [key])


def _cancel(
    merchant: MerchantConfig, ret: Return, *, ledger: Ledger, ams: AmsClient, dry_run: bool
) -> ReturnOutcome:
    cid = customer_identifier_for(ret.id)
    link = ledger.get_link(merchant.name, return_id=ret.id)
    if link is not None and link.stage == names.CANCELLED:
        return ReturnOutcome.of(merchant, ret.id, "already_done", "already cancelled")
    rma = ams.get_rma_by_cid(cid)
    if rma is None or rma.is_deleted:
        if link is not None:
            ledger.set_stage(merchant.name, ret.id, names.CANCELLED, status="deleted")
        ledger.record_stage(merchant.name, ret.id, "cancellation", "no_rma")
        return ReturnOutcome.of(merchant, ret.id, "cancelled", "no live RMA in AMS")
    if not is_ams_status(rma.status, OPEN):
        return _hold_now(
            ledger,
            merchant,
            ret,
            "cancel_after_shipped",
            f"return cancelled in Returnly but its RMA is already {rma.status!r} in AMS",
            {"customer_identifier": cid, "ams_id": rma.id, "ams_status": rma.status},
            stage=names.CANCEL_EXCEPTION,
        )
    if dry_run:
        return ReturnOutcome.of(merchant, ret.id, "planned", f"would delete RMA {cid}")
    refusal = _delete_rma(ams, cid)
    if refusal is not None:
        return _hold_now(
            ledger,
            merchant,
            ret,
            "cancel_refused",
            refusal,
            {"customer_identifier": cid},
            stage=names.CANCEL_EXCEPTION,
        )
    ledger.upsert_link(
        merchant.name,
        ret.id,
        cid,
        rma_number=ret.rma,
        ams_uuid=rma.id,
        stage=names.CANCELLED,
        status="deleted",
        history=StageNote("cancellation", "deleted", {"ams_id": rma.id}),
    )
    return ReturnOutcome.of(merchant, ret.id, "cancelled", "RMA deleted in AMS")


def _delete_rma(ams: AmsClient, cid: str) -> str | None:
    """Delete the RMA; ``None`` once AMS shows no live RMA for ``cid``, else why it refused.

    A DELETE whose answer was lost, or whose retry is refused because the first attempt
    already applied, is settled by reading the RMA back.
    """
    try:
        record = ams.delete_rmas([cid]).by_identifier().get(cid)
    except AmsError as exc:
        if not is_retryable(exc):
            raise
        logger.warning("AMS delete of %s: %s; reading back", cid, exc)
        record = None
    if record is not None and record.ok:
        return None
    after = ams.get_rma_by_cid(cid)
    if after is None or after.is_deleted:
        return None
    return record.summary() if record else "AMS returned no result for the delete"


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
    writes = _Writes(merchant)
    outcome = writes.hold(ret, reason, message, payload, stage=stage)
    writes.write(ledger)
    return outcome
