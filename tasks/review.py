"""The ``apply-review-decision`` task: carry out a recorded review decision (the rules are
:mod:`stages.review`; the waiting flow is :mod:`flows.review_held_refund`)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NONE

from clients.errors import is_retryable
from ledger import HeldReview
from runtime import ams_client, get_ledger, load_merchant, returns_platform
from stages.review import ReviewBusyError, apply_decision
from tasks.lifecycle import RETRY_DELAYS

APPLY_RETRIES = 3


def _retry_busy_or_transient(_task: Any, _run: Any, state: Any) -> bool:
    """Retry while another run holds the refund lease, or after a transient fault."""
    try:
        state.result()
    except ReviewBusyError:
        return True
    except Exception as exc:
        return is_retryable(exc)
    return False


@task(
    name="apply-review-decision",
    tags=["returnly", "ams", "review"],
    cache_policy=NONE,
    task_run_name="apply-{merchant}-{exception_id}",
    retries=APPLY_RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=_retry_busy_or_transient,
)
def apply_review_decision(merchant: str, exception_id: int) -> HeldReview:
    """Carry out the recorded decision (an approval posts the refund exactly once)."""
    config = load_merchant(merchant)
    return apply_decision(
        config,
        exception_id,
        ledger=get_ledger(),
        returnly=returns_platform(config),
        ams=ams_client(config),
    )
