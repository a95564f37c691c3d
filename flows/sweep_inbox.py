"""Sweep-inbox flow: re-dispatch webhook messages that Prefect never took or never finished.

Nothing is lost when the Prefect API is down or the receiver dies after its 2xx: the message
waits in the ledger inbox and this flow (scheduled every few minutes) hands it over again,
through the dispatcher chosen by ``BRIDGE_WEBHOOKS_DISPATCH`` (task worker by default).
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from tasks.sweep import redispatch_stale
from webhooks.sweep import SweepResult


@flow(name="sweep-inbox", flow_run_name="sweep-inbox")
def sweep_inbox(older_than_seconds: int = 60, limit: int = 500) -> SweepResult:
    """Re-dispatch pending inbox messages, and emitted/failed ones left untouched too long.

    Args:
        older_than_seconds: Leave messages younger than this to the receiver and workers.
        limit: At most this many messages per run (oldest first).
    """
    result = redispatch_stale(older_than_seconds, limit)
    get_run_logger().info("sweep-inbox: %s", result.model_dump())
    create_markdown_artifact(
        key="sweep-inbox",
        markdown=(
            "# Inbox sweep\n\n| examined | dispatched | failed | skipped | settled | dead |\n"
            "|---|---|---|---|---|---|\n"
            f"| {result.examined} | {result.dispatched} | {result.failed} | {result.skipped} "
            f"| {result.settled} | {result.dead} |\n"
        ),
        description=f"re-dispatched {result.dispatched} of {result.examined}",
    )
    return result


if __name__ == "__main__":
    sweep_inbox(older_than_seconds=60, limit=500)
