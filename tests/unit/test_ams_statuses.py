"""The one AMS status table: every place's sets and lookups agree with it, and the stage a
return reaches is a typed value on the outcome, not text matched back from ``detail``."""

from __future__ import annotations

import pytest

from clients.ams import EDITABLE_STATUSES, RMA_EVENT_NAMES, RMA_STATUSES
from clients.ams.statuses import (
    AMS_OPEN_STATUSES,
    AMS_STATUS_PHASE,
    AMS_STATUSES,
    AmsStatus,
    Stage,
    ams_stage,
    is_ams_status,
)
from core.drift.statuses import A_PHASES
from core.merchant import merchant_from_settings
from stages import names as stages
from stages.arrival import received_return_ids
from stages.outcomes import ReturnOutcome


@pytest.mark.parametrize("row", AMS_STATUSES, ids=lambda r: r.name)
def test_every_spelling_of_a_status_maps_to_its_stage(row: AmsStatus) -> None:
    name = row.name
    for spelling in (name, name.upper(), name.lower(), f" {name} "):
        assert ams_stage(spelling) is row.stage
        assert stages.stage_for_ams_status(spelling) is row.stage
        assert is_ams_status(spelling, name)


def test_unknown_statuses_map_to_nothing() -> None:
    for status in (None, "", "lost", "receivedd", "in receiving"):
        assert ams_stage(status) is None
        assert not is_ams_status(status, "received")


def test_the_derived_sets_come_from_the_one_table() -> None:
    names = {r.name for r in AMS_STATUSES}
    assert len(names) == len(AMS_STATUSES)
    assert names == RMA_STATUSES == set(AMS_STATUS_PHASE)
    assert set(AMS_STATUS_PHASE.values()) <= set(A_PHASES)
    assert RMA_EVENT_NAMES < RMA_STATUSES and set(AMS_OPEN_STATUSES) >= EDITABLE_STATUSES
    assert "received" not in AMS_OPEN_STATUSES and "deleted" not in AMS_OPEN_STATUSES


def test_completion_takes_the_returns_whose_outcome_carries_the_received_stage() -> None:
    """Fails on the old code, which matched the text "received" in ``detail``."""
    merchant = merchant_from_settings()
    typed = ReturnOutcome.of(merchant, "r1", "updated", "received", stage=Stage.RECEIVED)
    text_only = ReturnOutcome.of(merchant, "r2", "updated", "received")
    elsewhere = ReturnOutcome.of(merchant, "r3", "updated", "in_transit", stage=Stage.IN_TRANSIT)
    assert received_return_ids([typed, text_only, elsewhere]) == ["r1"]
    # A stage survives the JSON a task result travels as.
    again = ReturnOutcome.model_validate_json(typed.model_dump_json())
    assert again.stage is Stage.RECEIVED and received_return_ids([again]) == ["r1"]
