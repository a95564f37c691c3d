"""``python -m deployments.task_worker``: run the task worker the webhook receiver feeds.

The receiver queues ``handle_inbox_batch`` (a burst's messages together) or
``handle_inbox_message`` (one) with ``.delay()``; this process picks the runs up within a
fraction of a second (PREFECT_NOTES §11). Needs ``PREFECT_API_URL``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from prefect import Task
from prefect.task_worker import serve

from tasks.lifecycle import handle_inbox_batch, handle_inbox_message

DEFAULT_LIMIT = 10
"""Inbox task runs (messages or batches) processed at once by one worker."""


def main(argv: Sequence[str] | None = None) -> None:
    """Serve both inbox tasks until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m deployments.task_worker")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT)
    args = parser.parse_args(argv)
    inbox_tasks: list[Task[..., Any]] = [handle_inbox_message, handle_inbox_batch]
    serve(*inbox_tasks, limit=args.limit)


if __name__ == "__main__":
    main()
