"""Open review exceptions placed on the drift identity they concern (tasks.reconcile)."""

from __future__ import annotations

from typing import Any

import pytest

from core.drift.triage import EXCEPTIONS
from ledger import ExceptionRecord
from stages.reconcile import exception_identity, exceptions_frame


def _record(eid: int = 1, **fields: Any) -> ExceptionRecord:
    base: dict[str, Any] = {
        "id": eid,
        "merchant": "acme",
        "reason": "mapping:missing_sku",
        "message": "line 5 has no SKU",
        "payload": {},
        "return_id": None,
        "subject": "subject",
        "status": "open",
    }
    return ExceptionRecord(**{**base, **fields})


@pytest.mark.parametrize(
    ("fields", "identity"),
    [
        pytest.param({"return_id": "100"}, "RLY-100", id="intake-hold-by-return"),
        pytest.param(
            {"return_id": "100", "payload": {"customer_identifier": "RLY-100", "ams_id": "a1"}},
            "RLY-100",
            id="arrival-names-the-identifier",
        ),
        pytest.param(
            {"payload": {"customer_identifier": "", "ams_id": "a9"}, "subject": "a9"},
            "AMS-a9",
            id="warehouse-rma-without-identifier",
        ),
        pytest.param(
            {"payload": {"customer_identifier": "RLY-7"}, "subject": "RLY-7"},
            "RLY-7",
            id="rma-missing-in-ams",
        ),
        pytest.param({"subject": "payload:abc"}, "payload:abc", id="nothing-but-a-subject"),
    ],
)
def test_exception_identity(fields: dict[str, Any], identity: str) -> None:
    assert exception_identity(_record(**fields)) == identity


def test_exceptions_frame_is_valid_and_keeps_ids_and_reasons() -> None:
    frame = exceptions_frame(
        "acme",
        [_record(3, return_id="1"), _record(8, reason="held:policy_review", return_id="2")],
    )
    assert list(frame.columns) == list(EXCEPTIONS)
    assert frame["exception_id"].tolist() == [3, 8]
    assert frame["customer_identifier"].tolist() == ["RLY-1", "RLY-2"]
    assert frame["reason"].tolist() == ["mapping:missing_sku", "held:policy_review"]
    assert exceptions_frame("acme", []).empty
