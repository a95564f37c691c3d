"""Stage 3 steps: a received RMA becomes a refund in Returnly, never twice.

The guarantee is the bridge's own; it does not rest on Returnly refusing a second refund or
honouring the idempotency key (neither is known, §A.8.4):

1. **Lease**: a run works on a return's refund only while it holds the return's lease
   (``refund:<return id>`` in the ledger, taken atomically for the batch). A second live run
   gets ``busy`` and posts nothing. Before each POST the batch checks that it still holds the
   lease with most of its time to live left, renewing all its leases in one write when a
   quarter of it has passed (:class:`ledger.HeldLeases`).
2. **Read under the lease**: the Returnly return is re-read after the lease is taken (the
   batch's returns listed from the oldest ``updated_at`` intake saw where that pays, one GET
   each otherwise). A return that shows any refund is settled from what it shows, never
   posted again.
3. **Claim**: the refund attempt (unique key) is recorded before the POST and completed after.
4. **Lost answers**: a POST that fails in a way that does not prove it was refused (5xx,
   timeout, dropped connection) is followed by a read-back of the return; the refund found
   there is matched to the claim (:func:`core.refunds.match_refund`), and only a return that
   shows none is posted again, still under the lease.
A crash leaves a pending attempt and a lease that runs out; the next run takes the lease,
reads the return and settles it the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from clients.ams import AmsClient, Rma
from clients.ams.statuses import RECEIVED, is_ams_status
from clients.errors import BridgeClientError, is_retryable
from core.mapping import customer_identifier_for
from core.merchant import MerchantConfig
from core.refunds import (
    RefundApproval,
    RefundDecision,
    RefundMatch,
    approve_refund,
    decide_refund,
    match_refund,
)
from ledger import (
    DONE_STATUSES,
    HeldLeases,
    Ledger,
    Link,
    LinkChange,
    RefundAttempt,
    RefundClaim,
    RefundDone,
    StageNote,
)
from platforms import PlatformLike, Refund, RefundQueued, Return, ReturnsPlatform, as_platform
from stages import names
from stages.outcomes import ReturnOutcome

logger = logging.getLogger(__name__)

REFUND_POST_ATTEMPTS = 3
"""POSTs of one refund within one lease, each after a read-back showed no refund."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def refund_lease_key(return_id: str) -> str:
    """The ledger lease that lets one run at a time work on a return's refund."""
    return f"refund:{return_id}"


def _read_rma(link: Link, ams: AmsClient) -> Rma | None:
    if link.ams_uuid:
        found = ams.get_rmas_by_id([link.ams_uuid])
        if found:
            return found[0]
    return ams.get_rma_by_cid(link.customer_identifier)


def _record_findings(ledger: Ledger, merchant: MerchantConfig, decision: RefundDecision) -> None:
    """Every issue and every held unit becomes an exception a person can act on."""
    for issue in decision.issues:
        ledger.open_exception(
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
        ledger.open_exception(
            merchant.name,
            f"held:{','.join(reasons)}",
            "; ".join(h.message for h in decision.held),
            {"held": [h.model_dump(mode="json") for h in decision.held]},
            return_id=decision.return_id,
            stage="completion",
            source="bridge",
        )


def _claimed_lines(attempt: RefundAttempt) -> dict[str, int]:
    lines: dict[str, int] = {}
    for line in attempt.lines:
        rid = str(line.get("return_line_item_id", ""))
        lines[rid] = lines.get(rid, 0) + int(line.get("units", 0))
    return lines


def _settle_attempt(
    ledger: Ledger,
    merchant: MerchantConfig,
    ret: Return,
    attempt: RefundAttempt,
    expected: Decimal,
) -> RefundMatch:
    """Close one pending attempt from the refunds the return shows (or leave it for a person)."""
    found = match_refund(ret.refunds, attempt.key, _claimed_lines(attempt), expected)
    if found.refund is not None:
        ledger.complete_refund(
            attempt.key,
            found.refund.id,
            found.refund.refund_amount,
            status="succeeded" if found.kind == "by_key" else "already_refunded",
        )
    else:
        ledger.open_exception(
            merchant.name,
            "refund_unmatched",
            f"Returnly shows a refund that cannot be matched to attempt {attempt.key}: "
            f"{found.reason}; the bridge will not post again",
            {"key": attempt.key, "refunds": [r.id for r in ret.refunds], "why": found.reason},
            return_id=ret.id,
            stage="completion",
            source="bridge",
        )
    return found


def _settle_existing(
    ledger: Ledger, merchant: MerchantConfig, ret: Return, decision: RefundDecision
) -> ReturnOutcome:
    """Returnly already shows a refund: record it, never post another.

    Pending attempts (a crash, a lost answer) are matched to what the return shows; several
    refunds on one return are money out more than once and go to a person at once.
    """
    ours: RefundMatch | None = None
    settled: set[str] = set()
    for attempt in ledger.refunds_for_return(merchant.name, ret.id):
        if attempt.status not in DONE_STATUSES:
            found = _settle_attempt(ledger, merchant, ret, attempt, decision.expected_refund_amount)
            if found.matched:
                settled.add(attempt.key)
            ours = ours if ours is not None and ours.kind == "by_key" else found
    if len(ret.refunds) > 1:
        ledger.open_exception(
            merchant.name,
            "refund_multiple",
            f"Returnly shows {len(ret.refunds)} refunds for this return",
            {"refunds": [{"id": r.id, "amount": str(r.refund_amount)} for r in ret.refunds]},
            return_id=ret.id,
            stage="completion",
            source="bridge",
        )
    if decision.refundable and decision.refund_key not in settled:
        ledger.open_exception(
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
        stage=names.REFUNDED,
        history=StageNote("completion", "already_refunded"),
    )
    if ours is not None and ours.kind == "by_key" and ours.refund is not None:
        refund = ours.refund
        detail = f"{refund.refund_amount} ({refund.id}), found on read-back"
        return ReturnOutcome.of(merchant, ret.id, "refunded", detail)
    return ReturnOutcome.of(merchant, ret.id, "already_done", "Returnly already shows a refund")


class _Cleared(NamedTuple):
    """A return that passed every check and is about to be refunded."""

    link: Link
    ret: Return
    decision: RefundDecision
    key: str
    """The refund's idempotency key (``decision.refund_key``, known to be set here)."""


def _precheck(
    merchant: MerchantConfig,
    return_id: str,
    link: Link | None,
    rma: Rma | None,
    *,
    ams: AmsClient,
) -> ReturnOutcome | tuple[Link, Rma]:
    """What needs no lease: a linked return whose RMA AMS shows received, else the outcome."""
    if link is None:
        return ReturnOutcome.of(merchant, return_id, "skipped", "no RMA linked to this return")
    if link.stage in (names.REFUNDED, names.CANCELLED):
        return ReturnOutcome.of(merchant, return_id, "already_done", f"stage {link.stage}")
    if rma is None or rma.customer_identifier != link.customer_identifier:
        rma = _read_rma(link, ams)
    if rma is None or not is_ams_status(rma.status, RECEIVED):
        status = rma.status if rma else "missing"
        return ReturnOutcome.of(merchant, return_id, "skipped", f"RMA not received ({status})")
    return link, rma


def _assess(
    merchant: MerchantConfig,
    link: Link,
    rma: Rma,
    *,
    ledger: Ledger,
    platform: ReturnsPlatform,
    dry_run: bool,
    approval: RefundApproval | None = None,
    listed: Return | None = None,
) -> ReturnOutcome | _Cleared:
    """Under the lease: read the return, decide; the outcome when it stops here, else cleared.

    ``listed``: the return as the batch's listed re-read found it, under this lease (else it
    is read here). With ``approval`` (a reviewer approved the held refund) the holds are
    lifted first.
    """
    return_id = link.return_id
    ret = listed if listed is not None else platform.read_return(return_id)
    if approval is None:
        decision = decide_refund(ret, rma, merchant.policy)
    else:
        decision = approve_refund(ret, rma, merchant.policy, approval)
    _record_findings(ledger, merchant, decision)
    if ret.is_refunded:
        return _settle_existing(ledger, merchant, ret, decision)
    if not decision.refundable or decision.refund_key is None:
        ledger.upsert_link(
            merchant.name,
            return_id,
            link.customer_identifier,
            stage=names.HELD,
            history=StageNote("completion", "held", {"why": decision.no_refund_reason}),
        )
        return ReturnOutcome.of(
            merchant, return_id, "held", decision.no_refund_reason or "nothing to refund"
        )
    if dry_run:
        amount = decision.expected_refund_amount
        return ReturnOutcome.of(merchant, return_id, "planned", f"would refund {amount}")
    return _Cleared(link, ret, decision, decision.refund_key)


def _read_listed(platform: ReturnsPlatform, links: Sequence[Link]) -> dict[str, Return]:
    """Under the leases: the batch's returns read by listing from the oldest ``updated_at``
    the bridge saw among them, where the platform finds that cheaper than one GET each.

    Returns never read with their timestamp (older links) are left to one GET each.
    """
    stamped = {
        lk.return_id: lk.platform_updated_at for lk in links if lk.platform_updated_at is not None
    }
    if not stamped:
        return {}
    return platform.read_listed(list(stamped), updated_since=min(stamped.values()))


def _refunded(item: _Cleared, refund: Refund) -> RefundDone:
    """The ledger record of a refund just made: the attempt done, the link moved on."""
    decision, key = item.decision, item.key
    stage = names.PARTIALLY_REFUNDED if decision.open_units or decision.held else names.REFUNDED
    note = {"refund_id": refund.id, "amount": str(refund.refund_amount), "key": key}
    link = LinkChange(
        item.ret.id,
        item.link.customer_identifier,
        stage=stage,
        history=StageNote("completion", "refunded", note),
    )
    return RefundDone(key, refund.id, refund.refund_amount, link=link)


def _post_refund(
    merchant: MerchantConfig,
    item: _Cleared,
    leases: HeldLeases,
    *,
    ledger: Ledger,
    platform: ReturnsPlatform,
) -> Refund | ReturnOutcome:
    """POST one refund under the lease; after an ambiguous failure read back before any repeat.

    Returns the refund made, or the outcome when the return was settled another way.
    """
    rid = item.ret.id
    last: BridgeClientError | None = None
    for _ in range(REFUND_POST_ATTEMPTS):
        if not leases.hold([refund_lease_key(rid)]):
            return ReturnOutcome.of(
                merchant, rid, "busy", "refund lease lost before posting; another run settles it"
            )
        try:
            made = platform.refund(item.ret, item.decision, idempotency_key=item.key)
        except platform.errors.conflict:
            return _settle_existing(ledger, merchant, platform.read_return(rid), item.decision)
        except platform.errors.any as exc:
            if not is_retryable(exc):
                raise
            last = exc
            logger.warning("refund of %s: %s; reading the return back", rid, type(exc).__name__)
        else:
            if isinstance(made, RefundQueued):
                # A platform that refunds later (Loop) needs completion to wait for it; not
                # built yet, so never record a refund that has not happened.
                raise TypeError(f"{platform.name} queued the refund of {rid}: not supported")
            return made
        now = platform.read_return(rid)
        if now.is_refunded:
            return _settle_existing(ledger, merchant, now, item.decision)
    assert last is not None  # the loop only ends here after an ambiguous failure
    raise last


def _refund_cleared(
    merchant: MerchantConfig,
    cleared: Sequence[_Cleared],
    leases: HeldLeases,
    *,
    ledger: Ledger,
    platform: ReturnsPlatform,
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
            # A pending attempt left by a crash is safe to post again here: the return was
            # re-read under this lease and shows no refund.
            made = _post_refund(merchant, item, leases, ledger=ledger, platform=platform)
            if isinstance(made, ReturnOutcome):
                outcomes[rid] = made
                continue
            done.append(_refunded(item, made))
            logger.info("return %s refunded: %s (%s)", rid, made.refund_amount, made.id)
            outcomes[rid] = ReturnOutcome.of(
                merchant, rid, "refunded", f"{made.refund_amount} ({made.id})"
            )
    finally:
        ledger.finish_refunds(merchant.name, done)
    return outcomes


def _wire_lines(decision: RefundDecision) -> list[dict[str, Any]]:
    return [ln.model_dump(mode="json") for ln in decision.lines]


def in_reread_order(
    ledger: Ledger, merchant: str, return_ids: Sequence[str], links: Sequence[Link] = ()
) -> list[str]:
    """``return_ids`` and the returns of ``links`` (once each) by the platform ``updated_at``
    the bridge last saw, unknown last: batches cut from this order are narrow slices of the
    platform's list, so each batch's listed re-read reads few pages that are not its own.

    Only the ids ``links`` does not cover are looked up in the ledger.
    """
    known = {lk.return_id: lk for lk in links}
    wanted = list(dict.fromkeys([*return_ids, *known]))
    missing = [rid for rid in wanted if rid not in known]
    if missing:
        known.update((lk.return_id, lk) for lk in ledger.links_for(merchant, return_ids=missing))
    seen = {
        rid: lk.platform_updated_at
        for rid, lk in known.items()
        if lk.platform_updated_at is not None
    }
    # sorted() is stable: returns with the same timestamp (or none) keep their given order.
    return sorted(wanted, key=lambda rid: (rid not in seen, seen.get(rid, _EPOCH)))


def complete_returns(
    merchant: MerchantConfig,
    return_ids: Sequence[str],
    *,
    ledger: Ledger,
    returnly: PlatformLike,
    ams: AmsClient,
    dry_run: bool = False,
    rmas: Sequence[Rma] = (),
    lease_ttl_s: float | None = None,
    approval: RefundApproval | None = None,
) -> list[ReturnOutcome]:
    """Refund what AMS received for a batch of returns, per the merchant's policy, exactly once.

    ``rmas`` are AMS records the caller has just read (the arrival poll); others are read
    here. The batch's refund leases are taken in one transaction; each Returnly return is
    re-read under its lease right before deciding; refunds are claimed and recorded in one
    transaction each; the leases are given back at the end (or run out after a crash).
    ``approval``: a reviewer approved these held refunds (see
    :func:`core.refunds.approve_refund`); they take the same leases and read-backs.
    """
    platform = as_platform(returnly)
    wanted = list(dict.fromkeys(return_ids))
    links = {lk.return_id: lk for lk in ledger.links_for(merchant.name, return_ids=wanted)}
    by_cid = {r.customer_identifier: r for r in rmas}
    outcomes: dict[str, ReturnOutcome] = {}
    ready: list[tuple[Link, Rma]] = []
    for rid in wanted:
        rma = by_cid.get(customer_identifier_for(rid))
        checked = _precheck(merchant, rid, links.get(rid), rma, ams=ams)
        if isinstance(checked, ReturnOutcome):
            outcomes[rid] = checked
        else:
            ready.append(checked)
    if ready:
        leased = _complete_leased(
            merchant,
            ready,
            ledger=ledger,
            platform=platform,
            dry_run=dry_run,
            ttl_s=lease_ttl_s,
            approval=approval,
        )
        outcomes.update(leased)
    return [outcomes[rid] for rid in return_ids]


def _complete_leased(
    merchant: MerchantConfig,
    ready: Sequence[tuple[Link, Rma]],
    *,
    ledger: Ledger,
    platform: ReturnsPlatform,
    dry_run: bool,
    ttl_s: float | None,
    approval: RefundApproval | None = None,
) -> dict[str, ReturnOutcome]:
    """Take the leases of ``ready`` returns, assess and refund those held, give them back."""
    leases = HeldLeases(ledger, merchant.name, ttl_s=ttl_s)
    keys = [refund_lease_key(link.return_id) for link, _ in ready]
    held = set(keys) if dry_run else set(leases.take(keys))
    outcomes: dict[str, ReturnOutcome] = {}
    cleared: list[_Cleared] = []
    try:
        listed = _read_listed(
            platform, [lk for lk, _ in ready if refund_lease_key(lk.return_id) in held]
        )
        for link, rma in ready:
            rid = link.return_id
            if refund_lease_key(rid) not in held:
                outcomes[rid] = ReturnOutcome.of(
                    merchant, rid, "busy", "another run holds this return's refund lease"
                )
                continue
            checked = _assess(
                merchant,
                link,
                rma,
                ledger=ledger,
                platform=platform,
                dry_run=dry_run,
                approval=approval,
                listed=listed.get(rid),
            )
            if isinstance(checked, ReturnOutcome):
                outcomes[rid] = checked
            else:
                cleared.append(checked)
        if cleared:
            outcomes.update(
                _refund_cleared(merchant, cleared, leases, ledger=ledger, platform=platform)
            )
    finally:
        if not dry_run:
            leases.release()
    return outcomes


def complete_return(
    merchant: MerchantConfig,
    return_id: str,
    *,
    ledger: Ledger,
    returnly: PlatformLike,
    ams: AmsClient,
    dry_run: bool = False,
    rma: Rma | None = None,
    lease_ttl_s: float | None = None,
    approval: RefundApproval | None = None,
) -> ReturnOutcome:
    """:func:`complete_returns` for one return (webhooks, replays, healing, approvals)."""
    return complete_returns(
        merchant,
        [return_id],
        ledger=ledger,
        returnly=returnly,
        ams=ams,
        dry_run=dry_run,
        rmas=[rma] if rma else [],
        lease_ttl_s=lease_ttl_s,
        approval=approval,
    )[0]
