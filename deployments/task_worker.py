"""``python -m deployments.task_worker``: run the task worker the webhook receiver feeds.

The receiver queues ``handle_inbox_batch`` (a burst's messages together) or
``handle_inbox_message`` (one) with ``.delay()``; this process picks the runs up within a
fraction of a second (PREFECT_NOTES §11). Needs ``PREFECT_API_URL``. It reads the runs'
parameters from the task storage ``bridge deploy`` registered (:mod:`runtime.task_storage`),
so it may run on any host.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import Any

from prefect import Task
from prefect.task_worker import serve

from runtime.task_storage import using_task_storage
from tasks.lifecycle import handle_inbox_batch, handle_inbox_message

DEFAULT_LIMIT = 10
"""Inbox task runs (messages or batches) processed at once by one worker."""


def main(argv: Sequence[str] | None = None) -> None:
    """Serve both inbox tasks until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m deployments.task_worker")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT)
    args = parser.parse_args(argv)
    inbox_tasks: list[Task[..., Any]] = [handle_inbox_message, handle_inbox_batch]
    with using_task_storage() as storage:
        # Parameters are read from (and results written to) the storage every host shares.
        logging.getLogger("deployments.task_worker").warning(
            "task storage: %s", storage or "this host's PREFECT_HOME (no shared block)"
        )
        serve(*inbox_tasks, limit=args.limit)


if __name__ == "__main__":
    main()
