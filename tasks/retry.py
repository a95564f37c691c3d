"""Retry conditions for Prefect tasks: retry transient faults, never client errors (4xx)."""

from __future__ import annotations

from typing import Any

from clients.errors import is_retryable


def retry_transient(_task: Any, _task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: True for transport errors, 408, 429 and 5xx only."""
    try:
        state.result()
    except Exception as exc:
        return is_retryable(exc)
    return False
