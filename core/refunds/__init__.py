"""AMS receipt -> Returnly refund decision: pure rules, no I/O (DESIGN "Completion")."""

from core.refunds.allocation import UNSPECIFIED_STATUS, Allocation, allocate
from core.refunds.approval import ApprovalError, RefundApproval, approve_refund
from core.refunds.decide import already_refunded, decide_refund, line_amount
from core.refunds.matching import RefundMatch, match_refund
from core.refunds.models import (
    HeldReason,
    HeldUnits,
    OpenUnits,
    RefundDecision,
    RefundIssue,
    RefundIssueCode,
    RefundLine,
    refund_key,
)

__all__ = [
    "UNSPECIFIED_STATUS",
    "Allocation",
    "ApprovalError",
    "HeldReason",
    "HeldUnits",
    "OpenUnits",
    "RefundApproval",
    "RefundDecision",
    "RefundIssue",
    "RefundIssueCode",
    "RefundLine",
    "RefundMatch",
    "allocate",
    "already_refunded",
    "approve_refund",
    "decide_refund",
    "line_amount",
    "match_refund",
    "refund_key",
]
