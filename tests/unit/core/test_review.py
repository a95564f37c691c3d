"""The review queue's pure parts: approving a held refund, the table and the summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.refunds import ApprovalError, HeldReason, RefundApproval, approve_refund, decide_refund
from core.review import QueueItem, age_text, suggested_action, summary_markdown, table_rows
from tests.unit.core.factories import line, policy, returnly_return, rma, rma_line

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def _damaged(amount: str = "80.00") -> tuple[object, object]:
    ret = returnly_return(line("L1", "pants3456", order="54321", amount=amount))
    received = rma(rma_line("pants3456", order="54321", received={"damaged": 1}, target="qc"))
    return ret, received


def test_approve_refund_releases_units_held_for_review() -> None:
    ret, received = _damaged()
    held = decide_refund(ret, received, policy())  # type: ignore[arg-type]
    assert [h.reason for h in held.held] == [HeldReason.POLICY_REVIEW]

    approved = approve_refund(ret, received, policy(), RefundApproval(approved_by="ann"))  # type: ignore[arg-type]

    assert [ln.units for ln in approved.lines] == [1]
    assert approved.expected_refund_amount == Decimal("80.00")
    assert approved.held == [] and approved.refund_key is not None


def test_approve_refund_with_deduction_withholds_it_and_keeps_the_key() -> None:
    ret, received = _damaged()
    plain = approve_refund(ret, received, policy(), RefundApproval())  # type: ignore[arg-type]
    less = approve_refund(
        ret,
        received,
        policy(),
        RefundApproval(deduction_amount=Decimal("12.5")),  # type: ignore[arg-type]
    )
    assert less.deduction_amount == Decimal("12.50")
    assert less.expected_refund_amount == Decimal("67.50")
    assert less.refund_key == plain.refund_key  # same lines and units: the same refund


def test_approve_refund_refuses_a_deduction_above_the_refund() -> None:
    ret, received = _damaged("10.00")
    with pytest.raises(ApprovalError, match="more than the refund"):
        approve_refund(
            ret,
            received,
            policy(),
            RefundApproval(deduction_amount=Decimal("11")),  # type: ignore[arg-type]
        )


def test_approve_refund_releases_unknown_inventory_status() -> None:
    ret = returnly_return(line("L1", "pants3456", order="54321", amount="20.00"))
    received = rma(rma_line("pants3456", order="54321", received={"mystery": 1}, target="qc"))
    approved = approve_refund(ret, received, policy(), RefundApproval())
    assert approved.expected_refund_amount == Decimal("20.00")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(59, "0m", id="under-a-minute"),
        pytest.param(45 * 60, "45m", id="minutes"),
        pytest.param(7 * 3600 + 5, "7h", id="hours"),
        pytest.param(3 * 86400 + 7200, "3d", id="days"),
    ],
)
def test_age_text(seconds: float, text: str) -> None:
    assert age_text(seconds) == text


def test_suggested_action_for_held_known_and_unknown_reasons() -> None:
    assert "approve" in suggested_action("held:policy_review")
    assert "SKU" in suggested_action("missing_sku")
    assert suggested_action("something_new").startswith("look at it")


def _item(id: int, reason: str, age_h: float, **kw: object) -> QueueItem:
    return QueueItem(
        id=id,
        merchant="acme",
        reason=reason,
        message="m" * 300 if id == 1 else "short",
        return_id=f"R{id}",
        rma=f"RMA{id}",
        stage="completion",
        occurrences=1,
        created_at=NOW - timedelta(hours=age_h),
        **kw,  # type: ignore[arg-type]
    )


def test_table_rows_oldest_first_with_every_column() -> None:
    rows = table_rows([_item(2, "missing_sku", 1), _item(1, "held:policy_review", 50)], NOW)
    assert [r["id"] for r in rows] == [1, 2]
    assert rows[0]["age"] == "2d" and rows[0]["rma"] == "RMA1" and rows[0]["return_id"] == "R1"
    assert len(str(rows[0]["what_happened"])) == 240
    assert set(rows[0]) >= {
        "reason",
        "age",
        "return_id",
        "rma",
        "what_happened",
        "suggested_action",
    }


def test_summary_counts_by_reason_and_lists_oldest_and_overdue_holds() -> None:
    items = [
        _item(1, "held:policy_review", 80, deadline=NOW - timedelta(hours=8)),
        _item(2, "missing_sku", 3),
        _item(3, "missing_sku", 2),
    ]
    text = summary_markdown("acme", items, NOW)
    assert "**3 open**" in text
    assert "| missing_sku | 2 |" in text and "| held:policy_review | 1 |" in text
    assert "1 waiting for a decision (1 past deadline)" in text
    assert text.index("| 1 | 3d |") < text.index("| 2 | 3h |")


def test_summary_of_an_empty_queue() -> None:
    assert "No open exceptions." in summary_markdown("acme", [], NOW)
