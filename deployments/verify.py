"""After the demo: check both sandboxes and the ledger agree, so the demo proves something.

Each problem is a sentence a person can act on; an empty list means the final state is
consistent: one RMA per linked return, at most one refund per return, refunds only where the
ledger says so, and no inbox message or refund attempt left hanging.
"""

from __future__ import annotations

from collections import Counter

import httpx

from clients.ams import AmsClient
from clients.returnly import ReturnlyClient
from core.mapping import customer_identifier_for
from ledger import Ledger
from stages import names

_REFUNDED_STAGES = {names.REFUNDED, names.PARTIALLY_REFUNDED}


def verify_final_state(
    merchant: str,
    *,
    ledger: Ledger,
    returnly: ReturnlyClient,
    ams: AmsClient,
    returnly_admin_url: str,
    cancelled_before_shipping: list[str],
) -> list[str]:
    """Every inconsistency between Returnly, AMS and the ledger (empty when all agree)."""
    problems: list[str] = []
    live = Counter(rma.customer_identifier for rma in ams.iter_rmas() if not rma.is_deleted)
    problems += [f"AMS holds {n} live RMAs for {cid}" for cid, n in live.items() if n > 1]
    returns = {r.id: r for r in returnly.list_returns()}
    with httpx.Client(base_url=returnly_admin_url, timeout=30) as admin:
        for rid, ret in returns.items():
            count = int(admin.get(f"/_admin/returns/{rid}/refunds").json()["count"])
            if count > 1:
                problems.append(f"return {rid} was refunded {count} times")
            link = ledger.get_link(merchant, return_id=rid)
            refunded_in_ledger = link is not None and link.stage in _REFUNDED_STAGES
            if refunded_in_ledger != (count == 1) and link is not None:
                problems.append(f"return {rid}: ledger stage {link.stage}, {count} refund(s)")
            if link is None and ret.status == "authorized":
                problems.append(f"authorized return {rid} never reached the ledger")
    for rid in cancelled_before_shipping:
        if live.get(customer_identifier_for(rid)):
            problems.append(f"return {rid} was cancelled but its RMA is still live")
    for link in ledger.links_in_stage(merchant, names.INTAKE_DONE_STAGES):
        if not live.get(link.customer_identifier):
            problems.append(f"ledger links {link.customer_identifier} but AMS has no live RMA")
    counts = ledger.counts(merchant)
    for status in ("pending", "emitted", "failed"):  # emitted: handed on, never processed
        if counts["inbox_by_status"].get(status):
            problems.append(f"{counts['inbox_by_status'][status]} inbox message(s) {status}")
    if counts["refunds_by_status"].get("pending"):
        problems.append(f"{counts['refunds_by_status']['pending']} refund attempt(s) pending")
    return problems
