"""How a stage splits its returns into task runs: few enough that Prefect's per-task cost stays
small, small enough that every worker stays busy and a retry redoes little."""

from __future__ import annotations

import math
from typing import TypeVar

from clients.ams import MAX_RECORDS_PER_BATCH as AMS_UNIT
from flows.common import chunks

T = TypeVar("T")

BATCHES_PER_WORKER = 4
"""Aim for this many task runs per worker thread: the pool stays busy while batches finish."""
MAX_BATCH = 300
"""Never more returns than this in one task run (one retry redoes at most this much)."""


def task_batches(items: list[T], workers: int) -> list[list[T]]:
    """Split ``items`` into whole AMS writes (30), about 4 batches per worker, at most 300 each.

    A measured trade-off (bench/lifecycle_throughput.py): each Prefect task run costs tens of
    milliseconds of orchestration, which at 30 returns per task dominated a 5,000-return run.
    """
    if not items:
        return []
    wanted = math.ceil(len(items) / (max(1, workers) * BATCHES_PER_WORKER))
    size = min(MAX_BATCH, max(AMS_UNIT, math.ceil(wanted / AMS_UNIT) * AMS_UNIT))
    return chunks(items, size)
