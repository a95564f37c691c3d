"""The demo's event sampler: only the first messages of one kind also become Prefect events."""

from __future__ import annotations

import pytest

from deployments.event_sampler import EventSampler
from tests.support.dispatch import DispatchFailedError, RecordingDispatcher


def test_only_the_first_matching_messages_are_posted() -> None:
    events = RecordingDispatcher()
    sampler = EventSampler("returnly", "return.authorized", limit=2, events=events)
    sampler.dispatch("m", "ams", "a1", "return.authorized", "R0")  # other source
    sampler.dispatch("m", "returnly", "c1", "return.canceled_by_merchant", "R1")  # other kind
    for n in range(2, 6):
        sampler.dispatch("m", "returnly", f"w{n}", "return.authorized", f"R{n}")
    assert [c.message_id for c in events.calls] == ["w2", "w3"]
    assert [(s.message_id, s.subject_id) for s in sampler.sent] == [("w2", "R2"), ("w3", "R3")]


def test_a_refused_event_raises_and_leaves_the_slot_to_the_next_message() -> None:
    events = RecordingDispatcher()
    events.fail_next(1)
    sampler = EventSampler("returnly", "return.authorized", events=events)
    with pytest.raises(DispatchFailedError):  # the receiver keeps the message for the sweeper
        sampler.dispatch("m", "returnly", "w1", "return.authorized", "R1")
    assert sampler.sent == []
    sampler.dispatch("m", "returnly", "w2", "return.authorized", "R2")
    sampler.dispatch("m", "returnly", "w3", "return.authorized", "R3")
    assert [s.subject_id for s in sampler.sent] == ["R2"]
