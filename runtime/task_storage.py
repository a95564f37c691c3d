"""Where background tasks' parameters and results live, so that every host can read them.

``.delay()`` writes a task run's parameters to Prefect's task-scheduling storage and the task
worker that picks the run up reads them back; by default that storage is the *submitting*
process's ``PREFECT_HOME/storage``, so a task worker on another host fails every run with
"Failed to read parameters" (issue 13). ``bridge deploy`` therefore registers one storage
block, :data:`BLOCK_NAME` (:mod:`deployments.task_storage`), that every host reaches:

- ``BRIDGE_TASK_STORAGE=s3://bucket/prefix`` (or any fsspec URL): Prefect's built-in
  ``RemoteFileSystem`` block over s3fs. Credentials are *not* stored in the block: each host
  gives its own (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile or an instance
  role), as botocore reads them. ``BRIDGE_TASK_STORAGE_ENDPOINT_URL`` points it at an
  S3-compatible server (MinIO, Ceph, R2, ...), and is stored since it is no secret.
- a directory (the default: the deploying host's ``PREFECT_HOME/storage``): a
  ``LocalFileSystem`` block, which serves one machine or a shared mount.

Every bridge process that queues or runs background tasks (the receiver, task workers, flow
runs that re-dispatch) wraps that work in :func:`using_task_storage`, which points
``PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK`` and ``PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK``
at the block unless the environment already names one. It lives in ``runtime`` because the
receiver (``webhooks``) and the task worker both need it. Prefect never deletes these files
(``read_parameters`` leaves them, results have no expiry): :func:`sweep` removes files older
than a cut-off (``python -m deployments.task_storage sweep``), or give the bucket a lifecycle
rule on the prefix. Prefect is imported inside the calls (~1 s; see :mod:`runtime.merchants`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect.filesystems import WritableFileSystem

BLOCK_NAME = "bridge-task-storage"
STORAGE_ENV = "BRIDGE_TASK_STORAGE"
ENDPOINT_ENV = "BRIDGE_TASK_STORAGE_ENDPOINT_URL"
REMOTE_SLUG = "remote-file-system"
LOCAL_SLUG = "local-file-system"
RECHECK_S = 30.0
"""How long a process trusts "no storage block registered" before asking the server again."""
DEFAULT_MAX_AGE = timedelta(days=7)
"""Sweep cut-off: a queued run waits at most this long for a worker before its input goes."""


def is_remote(url: str | None) -> bool:
    """True for an fsspec URL other than a plain local path (``file://`` counts as local)."""
    return bool(url) and "://" in str(url) and not str(url).startswith("file://")


def storage_block(url: str | None = None, endpoint_url: str | None = None) -> WritableFileSystem:
    """The block for ``url`` (see the module docstring); ``None`` means this host's default."""
    from prefect.filesystems import LocalFileSystem, RemoteFileSystem
    from prefect.settings import get_current_settings

    if url and is_remote(url):
        settings: dict[str, Any] = {}
        if endpoint_url:
            settings["client_kwargs"] = {"endpoint_url": endpoint_url}
        return RemoteFileSystem(basepath=url.rstrip("/"), settings=settings)
    path = Path(url.removeprefix("file://")) if url else None
    path = path or get_current_settings().results.local_storage_path
    return LocalFileSystem(basepath=str(path.expanduser().resolve()))


class _SlugCache:
    """The block slug this process found, asked once (a miss again after :data:`RECHECK_S`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slug: str | None = None
        self._missed_at = float("-inf")

    def get(self) -> str | None:
        with self._lock:
            if self._slug is None and time.monotonic() - self._missed_at > RECHECK_S:
                self._slug = find_slug()
                if self._slug is None:
                    self._missed_at = time.monotonic()
            return self._slug

    def forget(self) -> None:
        with self._lock:
            self._slug, self._missed_at = None, float("-inf")


def find_slug() -> str | None:
    """The registered block's slug, asking the server (either kind; none: ``None``)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        for kind in (REMOTE_SLUG, LOCAL_SLUG):
            try:
                client.read_block_document_by_name(BLOCK_NAME, kind)
            except ObjectNotFound:
                continue
            return f"{kind}/{BLOCK_NAME}"
    return None


_cache = _SlugCache()


def forget_slug() -> None:
    """Ask the server again next time (after deploy saved or replaced the block)."""
    _cache.forget()


def task_storage_slug() -> str | None:
    """The block background tasks use: the environment's, else the one deploy registered."""
    from prefect.settings import get_current_settings

    explicit = get_current_settings().tasks.scheduling.default_storage_block
    return explicit or _cache.get()


@contextlib.contextmanager
def using_task_storage() -> Iterator[str | None]:
    """Run the body with Prefect's task-scheduling and result storage on the shared block.

    Yields the slug in use (``None``: no block registered and none configured, so Prefect's
    local default applies, which only works when submitter and worker share one home).
    """
    from prefect.settings import (
        PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK,
        PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK,
        get_current_settings,
        temporary_settings,
    )

    slug = task_storage_slug()
    if slug is None:
        yield None
        return
    updates: dict[Any, str] = {PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK: slug}
    if get_current_settings().results.default_storage_block is None:
        updates[PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK] = slug
    with temporary_settings(updates=updates):
        yield slug


def filesystem_of(block: WritableFileSystem) -> Any:
    """The fsspec file system behind either kind of block (one code path for the sweep)."""
    from prefect.filesystems import LocalFileSystem, RemoteFileSystem

    if isinstance(block, LocalFileSystem):
        import fsspec

        return fsspec.filesystem("file")
    if not isinstance(block, RemoteFileSystem):
        raise TypeError(f"task storage must be a file system block, not {type(block).__name__}")
    return block.filesystem


def root_of(block: WritableFileSystem) -> str:
    """The block's base path as its fsspec file system names paths."""
    fs = filesystem_of(block)
    return str(fs._strip_protocol(str(getattr(block, "basepath", "")))).rstrip("/")


@dataclass(frozen=True)
class SweepReport:
    """What :func:`sweep` did."""

    deleted: int
    kept: int

    def line(self) -> str:
        """One line for the command's output."""
        return f"task storage sweep: {self.deleted} deleted, {self.kept} kept"


def _modified(info: dict[str, Any]) -> datetime | None:
    """A listing entry's modification time (s3fs: ``LastModified``; local: ``mtime``)."""
    stamp = info.get("LastModified") or info.get("mtime") or info.get("created")
    if isinstance(stamp, datetime):
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    if isinstance(stamp, int | float):
        return datetime.fromtimestamp(stamp, UTC)
    return None


def sweep(
    max_age: timedelta = DEFAULT_MAX_AGE,
    *,
    block: WritableFileSystem | None = None,
    now: datetime | None = None,
) -> SweepReport:
    """Delete parameter and result files older than ``max_age`` from the task storage.

    ``block`` defaults to the registered one. Files without a modification time are kept.
    """
    if block is None:
        from prefect.blocks.core import Block

        slug = task_storage_slug()
        if slug is None:
            raise RuntimeError(f"no task storage registered ({BLOCK_NAME}); run bridge deploy")
        block = Block.load(slug)  # type: ignore[assignment]
        assert block is not None
    fs = filesystem_of(block)
    root = root_of(block)
    cutoff = (now or datetime.now(UTC)) - max_age
    if not fs.exists(root):
        return SweepReport(0, 0)
    old: list[str] = []
    kept = 0
    for path, info in fs.find(root, detail=True).items():
        stamp = _modified(info)
        if stamp is not None and stamp < cutoff:
            old.append(path)
        else:
            kept += 1
    if old:
        fs.rm(old)
    return SweepReport(len(old), kept)
