"""Decisions on held refunds against the sandboxes: approved ones refunded exactly once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clients.ams import AmsClient
from clients.returnly import ReturnlyClient
from core.mapping import customer_identifier_for
from core.merchant import MerchantConfig
from ledger import Ledger, LedgerConflictError
from stages import names as stages
from stages.arrival import fetch_open_rmas, record_rmas
from stages.completion import complete_return
from stages.intake import intake_returns
from stages.review import apply_decision, start_review
from tests.support.stack import Stack


def _held(
    stack: Stack, merchant: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> tuple[str, int]:
    """A return received as 'qc' under a policy that reviews it: held, with its exception."""
    rid = stack.plant(lines=[{"units": 2, "unit_price": "25.00"}])["id"]
    intake_returns(merchant, [returnly.get_return(rid)], ledger=ledger, ams=ams)
    ams.trigger_rma_event(customer_identifier_for(rid), "receiveFull")
    rmas, _ = fetch_open_rmas(merchant, ledger=ledger, ams=ams)
    record_rmas(merchant, rmas, ledger=ledger)
    assert complete_return(merchant, rid, ledger=ledger, returnly=returnly, ams=ams).outcome == (
        "held"
    )
    (exc,) = [e for e in ledger.list_exceptions(merchant.name) if e.reason.startswith("held:")]
    start_review(ledger, merchant, exc)
    return rid, exc.id


def _refund_posts(stack: Stack) -> int:
    with stack.admin("returnly") as admin:
        log = admin.get("/_admin/requests", params={"since": 0, "limit": 100_000}).json()
    rows = log["requests"] if isinstance(log, dict) else log
    return sum(1 for r in rows if r["method"] == "POST" and "refunds" in r["path"])


@pytest.fixture
def strict(stack: Stack) -> MerchantConfig:
    return stack.merchant(inventory_status_policy={})  # 'qc' goes to review


def test_approve_held_refund_refunds_once_and_closes_exception(
    stack: Stack, strict: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    rid, exc_id = _held(stack, strict, returnly, ams, ledger)
    ledger.decide_held_review(exc_id, "approve", "ann@example.com", note="looks fine")
    row = apply_decision(strict, exc_id, ledger=ledger, returnly=returnly, ams=ams)
    assert row.status == "done" and row.outcome and row.outcome.startswith("refunded")
    assert stack.refund_count(rid) == 1
    assert returnly.get_return(rid).refund_amount == Decimal("50.00")
    # Applying again (a retried task, a second reviewer's same answer) posts nothing.
    ledger.decide_held_review(exc_id, "approve", "bob@example.com")
    apply_decision(strict, exc_id, ledger=ledger, returnly=returnly, ams=ams)
    assert stack.refund_count(rid) == 1 and _refund_posts(stack) == 1
    exc = ledger.get_exception(exc_id)
    assert exc is not None and exc.status == "resolved"
    assert exc.resolved_by == "ann@example.com" and exc.resolved_at is not None
    assert exc.note is not None and exc.note.startswith("approve: refunded")
    assert ledger.get_link(strict.name, return_id=rid).stage == stages.REFUNDED  # type: ignore[union-attr]


def test_approve_with_deduction_withholds_it(
    stack: Stack, strict: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    rid, exc_id = _held(stack, strict, returnly, ams, ledger)
    ledger.decide_held_review(exc_id, "approve", "ann", deduction_amount=Decimal("12.50"))
    apply_decision(strict, exc_id, ledger=ledger, returnly=returnly, ams=ams)
    ret = returnly.get_return(rid)
    assert stack.refund_count(rid) == 1
    (refund,) = ret.refunds
    assert refund.deduction_amount == Decimal("12.50")
    assert refund.refund_amount == Decimal("37.50")


def test_approve_whose_answer_is_lost_is_read_back_not_posted_again(
    stack: Stack,
    strict: MerchantConfig,
    returnly: ReturnlyClient,
    ams: AmsClient,
    ledger: Ledger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BRIDGE_HTTP_READ_TIMEOUT_S", "1")
    rid, exc_id = _held(stack, strict, returnly, ams, ledger)
    stack.faults(
        "returnly",
        refund_idempotency="none",
        commit_then_fail_rate=1.0,
        commit_then_fail_modes=["500"],
        seed=3,
    )
    ledger.decide_held_review(exc_id, "approve", "ann")
    row = apply_decision(strict, exc_id, ledger=ledger, returnly=returnly, ams=ams)
    stack.faults("returnly")
    assert row.outcome and row.outcome.startswith("refunded"), row.outcome
    assert stack.refund_count(rid) == 1 and _refund_posts(stack) == 1


def test_reject_held_refund_posts_nothing_and_closes_exception(
    stack: Stack, strict: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    rid, exc_id = _held(stack, strict, returnly, ams, ledger)
    ledger.decide_held_review(exc_id, "reject", "ann", note="worn")
    row = apply_decision(strict, exc_id, ledger=ledger, returnly=returnly, ams=ams)
    assert row.outcome == "not refunded"
    assert stack.refund_count(rid) == 0 and _refund_posts(stack) == 0
    exc = ledger.get_exception(exc_id)
    assert exc is not None and exc.status == "resolved" and exc.resolved_by == "ann"
    assert exc.note == "reject: not refunded; worn"
    assert [e.outcome for e in ledger.history(strict.name, rid) if e.stage == "review"] == [
        "reject"
    ]


def test_second_different_decision_is_refused(
    stack: Stack, strict: MerchantConfig, returnly: ReturnlyClient, ams: AmsClient, ledger: Ledger
) -> None:
    _rid, exc_id = _held(stack, strict, returnly, ams, ledger)
    ledger.decide_held_review(exc_id, "reject", "ann")
    with pytest.raises(LedgerConflictError, match="already decided: reject by ann"):
        ledger.decide_held_review(exc_id, "approve", "bob")
