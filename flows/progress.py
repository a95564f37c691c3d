"""A Prefect progress artifact for long runs (backfill, reconciliation, the demo's story, the
chaos run), so the UI shows how far a run got and not only that it is running.

Prefect's artifact API does the work (the same calls ``create_progress_artifact`` and
``update_progress_artifact`` make, through the client, because those helpers warn that
artifacts made outside a run are deprecated, and the demo and chaos drivers are not runs); this
adds what a long run needs around them: a total that can grow as work is discovered (backfill
learns its batches per merchant), updates at most every ``min_interval_s`` (one API call per
batch of 30 returns would be noise; one per 2 s is enough for a person), and fail-soft calls:
progress is observability, so a Prefect API that cannot answer is logged once and never fails
the run. Inside a flow or task run the artifact is linked to it; outside (the demo and chaos
drivers) it is a keyed artifact of its own, listed on the Artifacts page.
"""

from __future__ import annotations

import logging
import time
from uuid import UUID

from tasks.artifacts import artifact_key, publish_artifact

logger = logging.getLogger(__name__)
MIN_INTERVAL_S = 2.0


def progress_key(kind: str, subject: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return artifact_key(kind, subject)


class RunProgress:
    """``done`` of ``total`` steps as a percentage artifact; ``describe`` says what is going on."""

    def __init__(
        self,
        description: str,
        total: int = 0,
        *,
        key: str | None = None,
        min_interval_s: float = MIN_INTERVAL_S,
    ) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self.key = key
        self.min_interval_s = min_interval_s
        self.artifact_id: UUID | None = None
        self.updates = 0
        """API calls made (create + updates): the cost of the artifact, for tests."""
        self._last = 0.0
        self._broken = False

    @property
    def percent(self) -> float:
        """0-100; 0 while the total is unknown."""
        if self.total <= 0:
            return 0.0
        return round(min(100.0, 100.0 * self.done / self.total), 1)

    def start(self) -> RunProgress:
        """Create the artifact at 0 %."""
        self._call(create=True)
        return self

    def grow(self, steps: int) -> None:
        """More work was found (e.g. another merchant's batches)."""
        self.total += max(steps, 0)

    def advance(self, steps: int = 1, description: str | None = None) -> None:
        """``steps`` more are done; publish if ``min_interval_s`` has passed."""
        self.done += steps
        if description:
            self.description = description
        if time.monotonic() - self._last >= self.min_interval_s:
            self._call()

    def set_done(self, done: int, description: str | None = None) -> None:
        """An absolute count (for runs that measure progress rather than count steps)."""
        self.advance(done - self.done, description)

    def finish(self, description: str | None = None) -> None:
        """Publish 100 % (whatever the count says: the run ended)."""
        self.done = max(self.done, self.total)
        if description:
            self.description = description
        self._call(force_full=True)

    def _call(self, create: bool = False, force_full: bool = False) -> None:
        if self._broken:
            return
        value = 100.0 if force_full else self.percent
        text = f"{self.description} ({self.done}/{self.total})" if self.total else self.description
        try:
            if create or self.artifact_id is None:
                self.artifact_id = create_progress_artifact(value, self.key, text)
            else:
                update_progress_artifact(self.artifact_id, value, text)
            self.updates += 1
        except Exception as exc:  # observability only: never fail the run for it
            self._broken = True
            logger.warning(
                "progress artifact unavailable (%s); the run goes on", type(exc).__name__
            )
        self._last = time.monotonic()


def create_progress_artifact(progress: float, key: str | None, description: str) -> UUID:
    """A progress artifact, linked to the current flow or task run when there is one."""
    return publish_artifact("progress", key, progress, description)


def update_progress_artifact(artifact_id: UUID, progress: float, description: str) -> None:
    """Move an artifact made by :func:`create_progress_artifact` on."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import ArtifactUpdate

    with get_client(sync_client=True) as client:
        client.update_artifact(artifact_id, ArtifactUpdate(data=progress, description=description))
