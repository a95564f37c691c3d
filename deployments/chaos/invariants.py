"""The chaos run's invariants, computed from the sandboxes' own exports (pure, no I/O).

Inputs are the JSON documents of ``GET /_admin/export`` on both sandboxes, a snapshot of the
ledger (links, refund attempts, open exceptions: see :mod:`deployments.chaos.export`), the
rows of the reconciliation report and the scenario's :class:`~deployments.chaos.plan.ChaosPlan`.
Each invariant answers a count of violations (one per offending return or record) and a few
examples a person can act on.

1. no return has more than one live RMA (AMS export);
2. no return was refunded more than once (refunds per return in the Returnly export);
3. every authorized return (not cancelled before shipping) has a live RMA or an open exception;
4. every received return is refunded, held by policy, or has an open exception;
5. the reconciliation's drift is exactly what the plan leaves, nothing more, nothing less;
6. the ledger agrees with both sandboxes: links vs live RMAs, refund attempts vs refunds.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from deployments.chaos.plan import CANCELLED_BEFORE, ChaosPlan

Record = Mapping[str, Any]
PREFIX = "RLY-"
EXAMPLES = 8
DONE_REFUNDS = frozenset({"succeeded", "already_refunded"})
RMA_STAGES = frozenset(
    {
        "rma_created",
        "in_transit",
        "undeliverable",
        "received",
        "refunded",
        "partially_refunded",
        "held",
        "cancel_exception",
    }
)
"""Ledger stages that claim a live RMA in AMS (a return cancelled after it shipped keeps its)."""
NO_RMA_STAGES = frozenset({"cancelled", "intake_exception"})
"""Ledger stages that claim no live RMA."""
REFUNDED_STAGES = frozenset({"refunded", "partially_refunded"})
HELD_STAGES = frozenset({"held"})


@dataclass
class InvariantResult:
    """One invariant: how many violations, and a few of them spelled out."""

    key: str
    title: str
    violations: int = 0
    examples: list[str] = field(default_factory=list)
    checked: int = 0
    """How many returns or records the check looked at."""

    def add(self, text: str) -> None:
        """Count one violation (kept as an example while there is room)."""
        self.violations += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(text)

    @property
    def ok(self) -> bool:
        """No violation."""
        return self.violations == 0

    def as_dict(self) -> dict[str, Any]:
        """For the summary JSON."""
        return {
            "key": self.key,
            "title": self.title,
            "violations": self.violations,
            "checked": self.checked,
            "examples": self.examples,
        }


def return_id_of(customer_identifier: object) -> str | None:
    """``RLY-123`` -> ``123`` (None for an identifier the bridge did not make)."""
    if not isinstance(customer_identifier, str) or not customer_identifier.startswith(PREFIX):
        return None
    rest = customer_identifier[len(PREFIX) :]
    return None if rest.startswith("H-") or not rest else rest


def is_live(rma: Record) -> bool:
    """Not soft-deleted."""
    return rma.get("status") != "deleted" and not rma.get("deleted_at")


@dataclass
class Facts:
    """The exports indexed by return id."""

    live: dict[str, list[Record]]
    """return id -> its live RMAs."""
    returns: dict[str, Record]
    refunds: dict[str, list[Record]]
    """return id -> its refunds (Returnly's records)."""
    links: dict[str, Record]
    attempts: dict[str, list[Record]]
    """return id -> the ledger's refund attempts."""
    open_exceptions: dict[str, list[str]]
    """return id -> reasons of its open exceptions."""
    foreign_live: list[Record]
    """Live RMAs whose identifier names no return (not made by the bridge)."""


def _rows(document: Mapping[str, Any] | None, key: str) -> list[Record]:
    rows = (document or {}).get(key) or []
    return [r for r in rows if isinstance(r, Mapping)]


def _exception_return(row: Record) -> str | None:
    rid = row.get("return_id")
    if rid:
        return str(rid)
    payload = row.get("payload")
    cid = payload.get("customer_identifier") if isinstance(payload, Mapping) else None
    return return_id_of(cid) or return_id_of(row.get("subject"))


def index(ams: Mapping[str, Any], returnly: Mapping[str, Any], ledger: Mapping[str, Any]) -> Facts:
    """Index the three documents by return id."""
    live: dict[str, list[Record]] = defaultdict(list)
    foreign: list[Record] = []
    for rma in _rows(ams, "rmas"):
        if not is_live(rma):
            continue
        rid = return_id_of(rma.get("customer_identifier"))
        if rid is None:
            foreign.append(rma)
        else:
            live[rid].append(rma)
    refunds: dict[str, list[Record]] = defaultdict(list)
    for refund in _rows(returnly, "refunds"):
        refunds[str(refund.get("return_id"))].append(refund)
    attempts: dict[str, list[Record]] = defaultdict(list)
    for attempt in _rows(ledger, "refund_attempts"):
        attempts[str(attempt.get("return_id"))].append(attempt)
    exceptions: dict[str, list[str]] = defaultdict(list)
    for row in _rows(ledger, "exceptions"):
        if row.get("status", "open") != "open":
            continue
        rid = _exception_return(row)
        if rid is not None:
            exceptions[rid].append(str(row.get("reason")))
    return Facts(
        live=dict(live),
        returns={str(r.get("id")): r for r in _rows(returnly, "returns")},
        refunds=dict(refunds),
        links={str(lk.get("return_id")): lk for lk in _rows(ledger, "links")},
        attempts=dict(attempts),
        open_exceptions=dict(exceptions),
        foreign_live=foreign,
    )


def single_live_rma(facts: Facts) -> InvariantResult:
    """1. No return with more than one live RMA."""
    result = InvariantResult("single_live_rma", "no return has more than one live RMA")
    result.checked = len(facts.live)
    for rid, rmas in sorted(facts.live.items()):
        if len(rmas) > 1:
            ids = ", ".join(str(r.get("id")) for r in rmas)
            result.add(f"return {rid}: {len(rmas)} live RMAs ({ids})")
    return result


def refunded_once(facts: Facts) -> InvariantResult:
    """2. No return refunded more than once (accepted refunds in the Returnly export)."""
    result = InvariantResult("refunded_at_most_once", "no return was refunded more than once")
    result.checked = len(facts.refunds)
    for rid, refunds in sorted(facts.refunds.items()):
        if len(refunds) > 1:
            ids = ", ".join(str(r.get("refund_id")) for r in refunds)
            result.add(f"return {rid}: {len(refunds)} refunds ({ids})")
    return result


def authorized_covered(facts: Facts, plan: ChaosPlan) -> InvariantResult:
    """3. Every authorized return has a live RMA or an open exception."""
    result = InvariantResult(
        "authorized_has_rma_or_exception",
        "every authorized return has an RMA or an open exception",
    )
    for rid in plan.authorized:
        if plan.slots.get(rid) == CANCELLED_BEFORE:
            continue
        result.checked += 1
        if not facts.live.get(rid) and not facts.open_exceptions.get(rid):
            stage = (facts.links.get(rid) or {}).get("stage")
            result.add(f"return {rid}: no live RMA, no open exception (ledger stage {stage})")
    return result


def received_settled(facts: Facts) -> InvariantResult:
    """4. Every received return is refunded, held by policy, or has an open exception."""
    result = InvariantResult(
        "received_is_settled",
        "every received return is refunded, held by policy, or has an open exception",
    )
    for rid, rmas in sorted(facts.live.items()):
        if not any(str(r.get("status", "")).lower() == "received" for r in rmas):
            continue
        result.checked += 1
        held = (facts.links.get(rid) or {}).get("stage") in HELD_STAGES
        if facts.refunds.get(rid) or held or facts.open_exceptions.get(rid):
            continue
        stage = (facts.links.get(rid) or {}).get("stage")
        result.add(f"return {rid}: received, no refund, not held, no exception (stage {stage})")
    return result


def _drift_return(row: Record) -> str | None:
    rid = row.get("return_id")
    if isinstance(rid, str) and rid and rid.lower() != "nan":
        return rid.removesuffix(".0")
    if isinstance(rid, int | float) and rid == rid:  # NaN != NaN
        return str(int(rid))
    return return_id_of(row.get("customer_identifier"))


def drift_as_planned(drift: Iterable[Record], plan: ChaosPlan) -> InvariantResult:
    """5. Reconciliation drift equals what the plan leaves, and nothing else."""
    result = InvariantResult(
        "drift_as_planned",
        "reconciliation drift equals the scenario's expected exceptions and nothing else",
    )
    found: dict[str, set[str]] = defaultdict(set)
    for row in drift:
        rid = _drift_return(row)
        kind = str(row.get("kind"))
        if rid is None:
            result.add(f"{kind} on {row.get('customer_identifier') or row.get('ams_id')}")
            continue
        found[rid].add(kind)
    for rid in sorted(set(found) | set(plan.slots), key=lambda r: (len(r), r)):
        expected = plan.expected(rid)
        kinds = found.get(rid, set())
        result.checked += 1
        slot = plan.slots.get(rid, "not in the plan")
        for kind in sorted(kinds - expected.required - expected.allowed):
            result.add(f"return {rid} ({slot}): unexpected {kind}")
        for kind in sorted(expected.required - kinds):
            result.add(f"return {rid} ({slot}): expected {kind}, not reported")
    return result


def _ledger_links(facts: Facts, result: InvariantResult) -> None:
    for rid, link in sorted(facts.links.items()):
        stage = link.get("stage")
        rmas = facts.live.get(rid, [])
        if stage in RMA_STAGES:
            if len(rmas) != 1:
                result.add(f"return {rid}: ledger stage {stage}, AMS has {len(rmas)} live RMAs")
            elif link.get("ams_uuid") and rmas[0].get("id") != link.get("ams_uuid"):
                result.add(
                    f"return {rid}: ledger links RMA {link.get('ams_uuid')}, "
                    f"AMS's live RMA is {rmas[0].get('id')}"
                )
        elif stage in NO_RMA_STAGES and rmas:
            result.add(f"return {rid}: ledger stage {stage}, AMS has {len(rmas)} live RMA(s)")
    for rid in sorted(set(facts.live) - set(facts.links)):
        result.add(f"return {rid}: {len(facts.live[rid])} live RMA(s), no ledger link")


def _ledger_refunds(facts: Facts, plan: ChaosPlan, result: InvariantResult) -> None:
    planned = set(plan.authorized)
    for rid, attempts in sorted(facts.attempts.items()):
        made = {str(r.get("refund_id")) for r in facts.refunds.get(rid, [])}
        for attempt in attempts:
            status = attempt.get("status")
            refund_id = attempt.get("refund_id")
            if status in DONE_REFUNDS and str(refund_id) not in made:
                result.add(f"return {rid}: ledger refund {refund_id} ({status}) not in Returnly")
            elif status not in DONE_REFUNDS and status != "failed":
                result.add(f"return {rid}: refund attempt {attempt.get('key')} left {status}")
    for rid in sorted(planned):
        refunds = facts.refunds.get(rid, [])
        recorded = {
            str(a.get("refund_id"))
            for a in facts.attempts.get(rid, [])
            if a.get("status") in DONE_REFUNDS
        }
        for refund in refunds:
            if str(refund.get("refund_id")) not in recorded:
                result.add(f"return {rid}: Returnly refund {refund.get('refund_id')} not in ledger")
        stage = (facts.links.get(rid) or {}).get("stage")
        if (stage in REFUNDED_STAGES) != bool(refunds):
            result.add(f"return {rid}: ledger stage {stage}, {len(refunds)} refund(s) in Returnly")


def ledger_agrees(facts: Facts, plan: ChaosPlan) -> InvariantResult:
    """6. The ledger agrees with both sandboxes (links vs RMAs, refunds vs refund attempts)."""
    result = InvariantResult(
        "ledger_agrees", "the ledger agrees with both sandboxes (links/RMAs, refunds/attempts)"
    )
    result.checked = len(facts.links) + sum(len(a) for a in facts.attempts.values())
    _ledger_links(facts, result)
    _ledger_refunds(facts, plan, result)
    return result


def check_all(
    *,
    ams: Mapping[str, Any],
    returnly: Mapping[str, Any],
    ledger: Mapping[str, Any],
    drift: Sequence[Record],
    plan: ChaosPlan,
) -> list[InvariantResult]:
    """Every invariant, in order."""
    facts = index(ams, returnly, ledger)
    return [
        single_live_rma(facts),
        refunded_once(facts),
        authorized_covered(facts, plan),
        received_settled(facts),
        drift_as_planned(drift, plan),
        ledger_agrees(facts, plan),
    ]


def outcome_counts(facts: Facts, plan: ChaosPlan) -> dict[str, int]:
    """How the planned returns ended, by the sandboxes' records (for the summary)."""
    counts: Counter[str] = Counter()
    for rid in plan.authorized:
        rmas = facts.live.get(rid, [])
        ret = facts.returns.get(rid) or {}
        if facts.refunds.get(rid):
            counts["refunded"] += 1
        elif rmas:
            counts[f"rma {rmas[-1].get('status')}"] += 1
        else:
            counts[f"no live RMA (return {ret.get('status')})"] += 1
    return dict(sorted(counts.items()))
