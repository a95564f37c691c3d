"""``python -m deployments.task_worker``: run the task worker the webhook receiver feeds.

The receiver queues ``handle_inbox_message`` with ``.delay()``; this process picks the runs
up within a fraction of a second (PREFECT_NOTES §11). Needs ``PREFECT_API_URL``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from prefect.task_worker import serve

from tasks.lifecycle import handle_inbox_message

DEFAULT_LIMIT = 10
"""Inbox messages processed at once by one worker."""


def main(argv: Sequence[str] | None = None) -> None:
    """Serve ``handle_inbox_message`` until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m deployments.task_worker")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT)
    args = parser.parse_args(argv)
    serve(handle_inbox_message, limit=args.limit)


if __name__ == "__main__":
    main()
