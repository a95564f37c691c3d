"""The deploy side of the shared task storage: register the block, and the sweep command.

What the block is and how processes use it: :mod:`runtime.task_storage`. ``bridge deploy``
calls :func:`ensure_task_storage`; ``python -m deployments.task_storage sweep
[--older-than-hours H]`` deletes parameter and result files older than the cut-off (Prefect
never deletes them; run it daily, or give the bucket a lifecycle rule on the prefix).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import timedelta

from runtime.task_storage import (
    BLOCK_NAME,
    DEFAULT_MAX_AGE,
    LOCAL_SLUG,
    REMOTE_SLUG,
    STORAGE_ENV,
    filesystem_of,
    find_slug,
    forget_slug,
    root_of,
    storage_block,
    sweep,
)


def ensure_task_storage(url: str | None = None, endpoint_url: str | None = None) -> str:
    """Save the storage block (replacing one of the other kind) and probe it; a report line.

    Without ``url`` an existing block is kept (a redeploy must not move a bucket back to a
    local directory); the local default is created only when there is none.

    The probe writes and reads one file, so a deploy host that cannot reach the bucket fails
    here instead of every webhook failing later.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    if url is None and (existing := find_slug()) is not None:
        return f"task storage {existing}: kept (no {STORAGE_ENV} given)"
    block = storage_block(url, endpoint_url)
    block.save(BLOCK_NAME, overwrite=True)
    kind = block.get_block_type_slug()
    other = LOCAL_SLUG if kind == REMOTE_SLUG else REMOTE_SLUG
    with get_client(sync_client=True) as client:
        try:
            stale = client.read_block_document_by_name(BLOCK_NAME, other)
        except ObjectNotFound:
            stale = None
        if stale is not None and stale.id is not None:
            client.delete_block_document(stale.id)
    fs, folder = filesystem_of(block), f"{root_of(block)}/_probe"
    probe = f"{folder}/{int(time.time() * 1000)}"
    fs.makedirs(folder, exist_ok=True)  # a no-op on object stores
    fs.pipe_file(probe, b"ok")
    if fs.cat_file(probe) != b"ok":
        raise RuntimeError(f"task storage {kind}/{BLOCK_NAME} did not read back its probe")
    fs.rm(probe)
    forget_slug()
    where = getattr(block, "basepath", "?")
    return f"task storage {kind}/{BLOCK_NAME}: {where} (probe written and read)"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m deployments.task_storage sweep [--older-than-hours H]``."""
    parser = argparse.ArgumentParser(prog="python -m deployments.task_storage")
    sub = parser.add_subparsers(dest="command", required=True)
    swp = sub.add_parser("sweep", help="delete task parameter/result files older than a cut-off")
    swp.add_argument(
        "--older-than-hours", type=float, default=DEFAULT_MAX_AGE.total_seconds() / 3600
    )
    args = parser.parse_args(argv)
    report = sweep(timedelta(hours=args.older_than_hours))
    print(report.line(), flush=True)  # noqa: T201 (command output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
