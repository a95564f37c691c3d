"""Stage 2 steps: record what AMS says about each RMA, flag what a person must see.

Callbacks and the poll both end here with fresh ``Rma`` records; the step is idempotent
(a status already recorded is not recorded again), so duplicates and reordering are harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from clients.ams import MAX_IDS_PER_QUERY, AmsClient, Rma, in_batches
from core.mapping import customer_identifier_for
from core.merchant import MerchantConfig
from ledger import Ledger, Link, LinkChange, StageNote
from stages import names
from stages.outcomes import ReturnOutcome

logger = logging.getLogger(__name__)

AMS_READ_CONCURRENCY = 4
"""GETs of 30 RMAs in flight at once while polling (the client is thread-safe)."""
CREATED_AT_SLACK = timedelta(minutes=10)
"""Clock skew allowed between the ledger and AMS when listing by created date."""
_STAGE_RANK: dict[str, int] = {
    names.RMA_CREATED: 0,
    names.IN_TRANSIT: 1,
    names.UNDELIVERABLE: 1,
    names.RECEIVED: 2,
    names.HELD: 3,
    names.PARTIALLY_REFUNDED: 3,
    names.REFUNDED: 4,
    names.CANCELLED: 4,
}


def fetch_open_rmas(
    merchant: MerchantConfig, *, ledger: Ledger, ams: AmsClient
) -> tuple[list[Rma], list[str]]:
    """Fresh AMS records for every link the poll still watches; also cids AMS no longer knows."""
    links = ledger.links_in_stage(merchant.name, names.OPEN_STAGES)
    uuids = [lk.ams_uuid for lk in links if lk.ams_uuid]
    chunks = in_batches(uuids, MAX_IDS_PER_QUERY)
    with ThreadPoolExecutor(max_workers=AMS_READ_CONCURRENCY) as pool:
        rmas = [rma for page in pool.map(ams.get_rmas_by_id, chunks) for rma in page]
    unresolved = {lk.customer_identifier: lk for lk in links if not lk.ams_uuid}
    if unresolved:
        # Intake links RMAs by identifier only (AMS answers no id on create): list the RMAs
        # created since the oldest such link, 100 per page, instead of one GET per identifier.
        since = min(lk.created_at for lk in unresolved.values()) - CREATED_AT_SLACK
        for rma in ams.iter_rmas(created_from=since):
            if rma.customer_identifier in unresolved and not rma.is_deleted:
                rmas.append(rma)
                del unresolved[rma.customer_identifier]
    missing: list[str] = []
    for cid in unresolved:
        found = ams.get_rma_by_cid(cid)
        if found is None:
            missing.append(cid)
        else:
            rmas.append(found)
    return rmas, missing


def _flag(
    ledger: Ledger, merchant: MerchantConfig, link: Link, reason: str, message: str, rma: Rma
) -> None:
    ledger.open_exception(
        merchant.name,
        reason,
        message,
        {"customer_identifier": link.customer_identifier, "ams_id": rma.id, "status": rma.status},
        return_id=link.return_id,
        stage="arrival",
        source="ams",
    )


def record_rmas(
    merchant: MerchantConfig, rmas: Sequence[Rma], *, ledger: Ledger
) -> list[ReturnOutcome]:
    """Record each RMA's status; ``updated``/``received`` outcomes are ready for completion."""
    outcomes: list[ReturnOutcome] = []
    cids = [r.customer_identifier for r in rmas if r.customer_identifier]
    known = {
        lk.customer_identifier: lk
        for lk in ledger.links_for(merchant.name, customer_identifiers=cids)
    }
    changes: list[LinkChange] = []
    for rma in rmas:
        cid = rma.customer_identifier or ""
        link = known.get(cid)
        if link is None:
            ledger.open_exception(
                merchant.name,
                "rma_without_return",
                f"AMS RMA {cid or rma.id} has no Returnly return known to the bridge",
                {"customer_identifier": cid, "ams_id": rma.id, "status": rma.status},
                stage="arrival",
                source="ams",
                subject=cid or rma.id,
            )
            outcomes.append(
                ReturnOutcome(
                    merchant=merchant.name,
                    return_id=cid or rma.id,
                    outcome="exception",
                    detail="RMA without a known return",
                )
            )
            continue
        outcomes.append(_record_one(merchant, link, rma, ledger=ledger, changes=changes))
    ledger.upsert_links(merchant.name, changes)  # one transaction for every status change
    return outcomes


def _record_one(
    merchant: MerchantConfig, link: Link, rma: Rma, *, ledger: Ledger, changes: list[LinkChange]
) -> ReturnOutcome:
    """Decide what one RMA record changes; the link change is queued in ``changes``."""
    status = rma.status or ""
    stage = names.stage_for_ams_status(status)

    if stage is None:
        _flag(ledger, merchant, link, "unknown_ams_status", f"AMS status {status!r}", rma)
        return ReturnOutcome.of(
            merchant, link.return_id, "exception", f"unknown AMS status {status}"
        )
    unchanged = link.status == status and link.ams_uuid == rma.id
    # Never move a return backwards (a late, reordered callback must not undo a receipt).
    later = _STAGE_RANK.get(link.stage, -1) > _STAGE_RANK.get(stage, -1)
    if unchanged or later:
        if stage == names.RECEIVED and link.stage == names.RECEIVED:
            return ReturnOutcome.of(
                merchant, link.return_id, "updated", names.RECEIVED, stage=names.RECEIVED
            )
        return ReturnOutcome.of(
            merchant, link.return_id, "skipped", f"status {status} already recorded"
        )
    changes.append(
        LinkChange(
            link.return_id,
            link.customer_identifier,
            ams_uuid=rma.id,
            stage=stage,
            status=status,
            history=StageNote("arrival", status, {"ams_id": rma.id}),
        )
    )
    if stage == names.UNDELIVERABLE:
        _flag(ledger, merchant, link, "undeliverable", "the carrier could not deliver", rma)
    if stage == names.RECEIVED:
        extra = [ln.customer_sku_id for ln in rma.line_items if ln.not_on_original_rma]
        if extra:
            _flag(
                ledger,
                merchant,
                link,
                "not_on_original_rma",
                f"received items not on the RMA: {', '.join(str(s) for s in extra)}",
                rma,
            )
    logger.info("return %s: AMS status %s", link.return_id, status)
    return ReturnOutcome.of(merchant, link.return_id, "updated", stage, stage=stage)


def stage_rank(stage: str) -> int:
    """How far along the lifecycle a stage is (-1: not a stage the arrival step records)."""
    return _STAGE_RANK.get(stage, -1)


def received_return_ids(outcomes: Sequence[ReturnOutcome]) -> list[str]:
    """Returns whose RMA is received and so ready for completion."""
    return [o.return_id for o in outcomes if o.outcome == "updated" and o.stage == names.RECEIVED]


def rma_for_return(merchant: str, return_id: str, *, ams: AmsClient, ledger: Ledger) -> Rma | None:
    """The return's RMA as AMS has it now (by AMS id when linked, else by identifier)."""
    link = ledger.get_link(merchant, return_id=return_id)
    if link is not None and link.ams_uuid:
        found = ams.get_rmas_by_id([link.ams_uuid])
        if found:
            return found[0]
    cid = link.customer_identifier if link else customer_identifier_for(return_id)
    return ams.get_rma_by_cid(cid)
