"""The review queue on Prefect: artifacts per merchant, one suspended run per held refund.

- :func:`publish_review_queue` writes ``review-<merchant>`` (table) and
  ``review-<merchant>-summary`` (markdown): two API calls, once per flow run or batch.
- :func:`start_held_reviews` starts a ``review-held-refund`` deployment run for every held
  refund that has none yet. That run suspends on :class:`HeldRefundReview` (its Resume form in
  the UI) without holding a worker, so one held return never delays its batch.
- :func:`decide_held` is what the shell and the approve/reject deployments do: send the
  decision to the suspended run exactly as the UI's form does (``POST /flow_runs/{id}/resume``
  with the run input), or, when no run waits, record and apply it here.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from prefect.input import RunInput
from pydantic import BaseModel, Field

from core.review import summary_markdown, table_rows
from ledger import (
    ExceptionRecord,
    HeldReview,
    LedgerConflictError,
    LedgerNotFoundError,
    is_held_refund,
)
from runtime import ams_client, get_ledger, load_merchant, returns_platform
from stages.review import apply_decision, queue_items, start_review
from tasks.artifacts import artifact_key, prefect_available, publish_artifact
from tasks.budget import refresh_budget

logger = logging.getLogger(__name__)

REVIEW_FLOW = "review-held-refund"
REVIEW_DEPLOYMENT = f"{REVIEW_FLOW}/{REVIEW_FLOW}"
REPUBLISH_AFTER_S = 300.0
"""An unchanged queue is published again after this long (ages move on)."""
TABLE_MAX_ROWS = 2000
_published: dict[str, tuple[tuple[Any, ...], float]] = {}
_lock = threading.Lock()


class HeldRefundReview(RunInput):
    """A person's decision on a refund held for review (the run's Resume form)."""

    decision: Literal["approve", "reject"] = Field(
        description="approve: refund the held units now; reject: no refund"
    )
    deduction_amount: float = Field(
        default=0.0, ge=0, description="Withheld from an approved refund (e.g. 12.50); 0: none"
    )
    reviewer: str = Field(min_length=1, max_length=200, description="Your name or e-mail")
    note: str = Field(default="", max_length=2000, description="Why (kept in the ledger)")

    def deduction(self) -> Decimal | None:
        """The deduction as money (``None`` when there is none)."""
        amount = Decimal(str(self.deduction_amount)).quantize(Decimal("0.01"))
        return amount if amount > 0 else None


class DecideResult(BaseModel):
    """What :func:`decide_held` did."""

    exception_id: int
    sent_to_run: str | None = None
    """The suspended run the decision was sent to (it applies it)."""
    outcome: str | None = None
    """When applied here: what applying it did."""


def review_artifact_key(merchant: str, suffix: str = "") -> str:
    """``review-<merchant>[-suffix]``: artifact keys allow lowercase letters, digits, dashes."""
    return artifact_key("review", merchant, *([suffix] if suffix else []), squeeze=True)


def publish_review_queue(merchant: str, *, force: bool = False) -> bool:
    """Write the merchant's review artifacts; False when skipped (unchanged, recently sent)."""
    items = queue_items(get_ledger(), merchant)
    signature = tuple((i.id, i.occurrences, i.review_run) for i in items)
    now_mono = time.monotonic()
    with _lock:
        last = _published.get(merchant)
        if not force and last and last[0] == signature and now_mono - last[1] < REPUBLISH_AFTER_S:
            return False
        _published[merchant] = (signature, now_mono)
    now = datetime.now(UTC)
    rows = table_rows(items, now)
    shown = rows[:TABLE_MAX_ROWS]
    more = f" (oldest {len(shown)} shown)" if len(rows) > len(shown) else ""
    publish_artifact(
        "table",
        review_artifact_key(merchant),
        json.dumps(shown or [{"id": "", "reason": "no open exceptions"}], default=str),
        f"{merchant}: {len(items)} open exception(s){more}",
    )
    publish_artifact(
        "markdown",
        review_artifact_key(merchant, "summary"),
        summary_markdown(merchant, items, now),
        f"review queue of {merchant}: {len(items)} open",
    )
    return True


def start_held_reviews(merchant: str) -> list[HeldReview]:
    """Start the review run of every held refund that has none; the reviews started."""
    ledger = get_ledger()
    config = load_merchant(merchant)
    pending = [start_review(ledger, config, exc)[0] for exc in ledger.held_without_review(merchant)]
    pending += [r for r in ledger.held_reviews(merchant, "waiting") if r.flow_run_id is None]
    started: list[HeldReview] = []
    for review in {r.exception_id: r for r in pending}.values():
        run_id = _start_review_run(merchant, review.exception_id)
        if run_id is None:
            break  # no deployment (yet): the sweep or the next stage run tries again
        started.append(ledger.set_review_run(review.exception_id, run_id))
    return started


def _start_review_run(merchant: str, exception_id: int) -> str | None:
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    try:
        run = run_deployment(
            REVIEW_DEPLOYMENT,
            parameters={"merchant": merchant, "exception_id": exception_id},
            timeout=0,
            as_subflow=False,
            idempotency_key=f"held-review-{merchant}-{exception_id}",
            tags=["returns-bridge", "review", f"merchant:{merchant}"],
        )
    except ObjectNotFound:
        logger.info("deployment %s not found: held refunds wait for it", REVIEW_DEPLOYMENT)
        return None
    assert isinstance(run, FlowRun)  # the sync API
    return str(run.id)


def after_stage(merchant: str) -> None:
    """After a stage run or batch: start reviews of new held refunds, refresh the artifacts
    (the review queue; the request budget at most once a minute).

    Best effort by design: the stage's own work is done and recorded; a Prefect API that does
    not answer only delays the queue's view until the next run or the sweep.
    """
    if not prefect_available():
        return
    try:
        start_held_reviews(merchant)
        publish_review_queue(merchant)
    except Exception as exc:
        logger.warning("review queue of %s not refreshed: %s", merchant, exc)
    try:
        refresh_budget(merchant)
    except Exception as exc:
        logger.warning("request budget of %s not refreshed: %s", merchant, exc)


def waiting_run(review: HeldReview) -> UUID | None:
    """The review's flow run when it is suspended waiting for input, else ``None``."""
    if review.flow_run_id is None or not prefect_available():
        return None
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(review.flow_run_id))
    return run.id if run.state is not None and run.state.is_paused() else None


def send_decision(run_id: UUID, answer: HeldRefundReview) -> None:
    """Resume the suspended review run with the decision (the UI form's own API call)."""
    from prefect.flow_runs import resume_flow_run

    resume_flow_run(run_id, run_input=answer.model_dump(mode="json"))


def decide_held(merchant: str, exception_id: int, answer: HeldRefundReview) -> DecideResult:
    """Approve or reject a held refund: through its suspended run if one waits, else here."""
    ledger = get_ledger()
    exc = ledger.get_exception(exception_id)
    if exc is None or exc.merchant != merchant:
        raise LedgerNotFoundError(f"no exception {exception_id} for merchant {merchant}")
    if not is_held_refund(exc.reason):
        raise ValueError(f"exception {exception_id} ({exc.reason}) is not a held refund")
    config = load_merchant(merchant)
    review = ledger.get_held_review(exception_id)
    if review is None:
        if exc.status != "open":
            raise LedgerConflictError(f"exception {exception_id} is already {exc.status}")
        review = start_review(ledger, config, exc)[0]
    run_id = waiting_run(review) if review.status == "waiting" else None
    if run_id is not None:
        send_decision(run_id, answer)
        return DecideResult(exception_id=exception_id, sent_to_run=str(run_id))
    ledger.decide_held_review(
        exception_id,
        answer.decision,
        answer.reviewer,
        deduction_amount=answer.deduction(),
        note=answer.note or None,
    )
    done = apply_decision(
        config,
        exception_id,
        ledger=ledger,
        returnly=returns_platform(config),
        ams=ams_client(config),
    )
    if prefect_available():
        publish_review_queue(merchant, force=True)
    return DecideResult(exception_id=exception_id, outcome=done.outcome)


class ResolveResult(BaseModel):
    """What :func:`resolve_exceptions` closed, and what it left alone (id -> why)."""

    resolved: list[int] = Field(default_factory=list)
    skipped: dict[int, str] = Field(default_factory=dict)


def select_exceptions(
    merchant: str, exception_ids: list[int], reason: str | None
) -> list[ExceptionRecord]:
    """Open exceptions of the merchant: the ids given, else every one with ``reason``."""
    ledger = get_ledger()
    if exception_ids:
        rows = [ledger.get_exception(i) for i in exception_ids]
        found = [r for r in rows if r is not None and r.merchant == merchant]
        if len(found) != len(exception_ids):
            missing = sorted(set(exception_ids) - {r.id for r in found})
            raise LedgerNotFoundError(f"no exception(s) {missing} for merchant {merchant}")
        return [r for r in found if r.status == "open"]
    if reason:
        return [r for r in ledger.list_exceptions(merchant) if r.reason == reason]
    raise ValueError("give exception ids or a reason")


def resolve_exceptions(
    merchant: str, by: str, note: str, *, exception_ids: list[int], reason: str | None = None
) -> ResolveResult:
    """Close open exceptions with a note; held refunds close without a refund."""
    if not by:
        raise ValueError("resolving needs the name of who resolves")
    ledger = get_ledger()
    config = load_merchant(merchant)
    result = ResolveResult()
    for exc in select_exceptions(merchant, exception_ids, reason):
        if not is_held_refund(exc.reason):
            ledger.resolve_exception(exc.id, note=note, by=by)
            result.resolved.append(exc.id)
            continue
        review = start_review(ledger, config, exc)[0]
        if review.status != "waiting":
            result.skipped[exc.id] = f"its decision ({review.decision}) is being applied"
            continue
        ledger.decide_held_review(exc.id, "resolve", by, note=note)
        ledger.finish_held_review(exc.id, "resolved by hand; no refund by the bridge", close=True)
        _cancel_review_run(review)
        result.resolved.append(exc.id)
    if prefect_available():
        publish_review_queue(merchant, force=True)
    return result


def _cancel_review_run(review: HeldReview) -> None:
    """Cancel the suspended review run of a review closed another way (best effort)."""
    run_id = waiting_run(review)
    if run_id is None:
        return
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, Cancelled(message="resolved in the review queue"))


def apply_overdue_defaults(merchant: str) -> list[DecideResult]:
    """Apply the merchant's default to held refunds nobody decided before their deadline."""
    results = []
    for review in get_ledger().overdue_held_reviews():
        if review.merchant != merchant or review.default_action not in ("approve", "reject"):
            continue
        hours = load_merchant(merchant).policy.held_review_timeout_hours
        answer = HeldRefundReview(
            decision=review.default_action,
            reviewer="review-sweep",
            note=f"merchant default after {hours:g} h without a decision",
        )
        results.append(decide_held(merchant, review.exception_id, answer))
    return results
