"""The coalescer groups messages per merchant and source, and every caller learns its fate."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from webhooks.coalesce import BatchSendError, Coalescer


class Sent:
    """A send function that records each group (and can be told to fail)."""

    def __init__(self, fail: bool = False) -> None:
        self.groups: list[tuple[str, str, list[str]]] = []
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self, merchant: str, source: str, ids: list[str]) -> None:
        with self._lock:
            self.groups.append((merchant, source, sorted(ids)))
        if self.fail:
            raise ConnectionError("prefect is down")


def _submit_all(coalescer: Coalescer, work: list[tuple[str, str, str]]) -> list[str]:
    def one(w: tuple[str, str, str]) -> str:
        try:
            coalescer.submit(*w)
            return "sent"
        except BatchSendError as exc:
            return f"error: {exc}"

    with ThreadPoolExecutor(len(work)) as pool:
        return list(pool.map(one, work))


def test_a_burst_goes_out_in_full_groups() -> None:
    sent = Sent()
    coalescer = Coalescer(sent, window_s=2.0, max_items=30, idle_window_s=2.0)
    started = time.monotonic()
    results = _submit_all(coalescer, [("m", "returnly", f"msg-{i}") for i in range(60)])
    assert results == ["sent"] * 60
    assert sorted(len(ids) for _, _, ids in sent.groups) == [30, 30]
    assert time.monotonic() - started < 1.5  # full groups do not wait for the window


def test_a_lone_message_waits_only_the_window() -> None:
    sent = Sent()
    coalescer = Coalescer(sent, window_s=0.1, max_items=30)
    started = time.monotonic()
    coalescer.submit("m", "ams", "only")
    assert sent.groups == [("m", "ams", ["only"])]
    assert time.monotonic() - started < 1.0


def test_groups_never_mix_merchants_or_sources() -> None:
    sent = Sent()
    coalescer = Coalescer(sent, window_s=0.2, max_items=30, idle_window_s=0.2)
    work = [
        (m, s, f"{m}-{s}-{i}") for m in ("a", "b") for s in ("returnly", "ams") for i in range(3)
    ]
    assert _submit_all(coalescer, work) == ["sent"] * 12
    assert sorted((m, s, len(ids)) for m, s, ids in sent.groups) == [
        ("a", "ams", 3),
        ("a", "returnly", 3),
        ("b", "ams", 3),
        ("b", "returnly", 3),
    ]


def test_every_member_of_a_failed_group_sees_the_failure() -> None:
    coalescer = Coalescer(Sent(fail=True), window_s=0.1, max_items=30)
    results = _submit_all(coalescer, [("m", "returnly", f"msg-{i}") for i in range(5)])
    assert results == ["error: ConnectionError: prefect is down"] * 5


def test_an_idle_message_goes_at_once_and_the_burst_after_it_waits_the_window() -> None:
    """The first message of a quiet key is not held for the window; those that follow a
    recent send are, and travel together (fails if every leader waits the whole window)."""
    sent = Sent()
    coalescer = Coalescer(sent, window_s=1.0, max_items=30, idle_window_s=0.01)
    started = time.monotonic()
    coalescer.submit("m", "returnly", "first")
    assert time.monotonic() - started < 0.5
    results = _submit_all(coalescer, [("m", "returnly", f"msg-{i}") for i in range(4)])
    assert results == ["sent"] * 4
    assert [len(ids) for _, _, ids in sent.groups] == [1, 4]
    assert time.monotonic() - started >= 1.0  # the burst waited for the window


def test_max_items_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_items"):
        Coalescer(Sent(), max_items=0)
