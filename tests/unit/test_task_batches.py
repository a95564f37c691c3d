"""How stages split returns into task runs: whole AMS writes, workers kept busy, bounded size."""

from __future__ import annotations

import pytest

from flows.batching import AMS_UNIT, MAX_BATCH, task_batches


@pytest.mark.parametrize(
    ("count", "workers", "sizes"),
    [
        (0, 4, []),
        (1, 4, [1]),
        (40, 4, [30, 10]),
        (480, 4, [30] * 16),
        (481, 4, [60] * 8 + [1]),
        (1811, 4, [120] * 15 + [11]),
        (5000, 4, [300] * 16 + [200]),
        (5000, 2, [300] * 16 + [200]),
        (100, 0, [30, 30, 30, 10]),
    ],
)
def test_task_batch_sizes(count: int, workers: int, sizes: list[int]) -> None:
    items = list(range(count))
    batches = task_batches(items, workers)
    assert [len(b) for b in batches] == sizes
    assert [x for b in batches for x in b] == items  # every item once, in order


def test_batches_are_whole_ams_writes_and_bounded() -> None:
    for count in range(1, 20_000, 997):
        sizes = [len(b) for b in task_batches(list(range(count)), 4)]
        assert all(s % AMS_UNIT == 0 for s in sizes[:-1])
        assert max(sizes) <= MAX_BATCH
