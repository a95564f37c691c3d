"""Progress of the demo's story: a bar in the terminal and a progress artifact in the UI.

The story is a fixed list of steps (:data:`DEMO_STEPS`); each :meth:`StoryProgress.step` moves
the bar and the ``demo-story`` artifact on. On a terminal the bar is rich's, and the demo's log
lines are printed above it through the same console; in a pipe (CI, the end-to-end test) there
is no bar, only the log lines and one ``story: step k/n`` line per step.
"""

from __future__ import annotations

import logging
import sys
from types import TracebackType

from rich.console import Console
from rich.logging import RichHandler

from deployments.bars import step_bars
from flows.progress import RunProgress

logger = logging.getLogger(__name__)
DEMO_STEPS = (
    "seed returns and authorize them (webhooks fire)",
    "webhook-driven intake",
    "cancellations before shipping",
    "intake-poll deployment run",
    "warehouse events (AMS DataFactory)",
    "callbacks processed",
    "intake-poll again (late cancellations)",
    "arrival-poll deployment run",
    "event-triggered intake run",
    "reconcile-now deployment run",
    "late webhooks processed",
    "held refunds decided in their suspended review runs",
    "final consistency check",
)
ARTIFACT_KEY = "demo-story"


class StoryProgress:
    """Bar + artifact over :data:`DEMO_STEPS`; a context manager around the story."""

    def __init__(self, *, tty: bool | None = None) -> None:
        self.tty = sys.stdout.isatty() if tty is None else tty
        self.console = Console()
        self._progress = step_bars(self.console, 48, enabled=self.tty)
        self._task = self._progress.add_task("starting", total=len(DEMO_STEPS))
        self._artifact = RunProgress("demo story", total=len(DEMO_STEPS), key=ARTIFACT_KEY)
        self.done = 0

    def log_handler(self) -> logging.Handler:
        """On a terminal, log lines go through the bar's console (printed above the bar)."""
        if self.tty:
            return RichHandler(console=self.console, show_path=False, markup=False)
        return logging.StreamHandler()

    def __enter__(self) -> StoryProgress:
        self._progress.start()
        self._artifact.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()
        if exc_type is None:
            self._artifact.finish("demo story: done")

    def step(self, name: str) -> None:
        """The next step of the story, ``name`` (it must be that step of DEMO_STEPS), is done."""
        expected = DEMO_STEPS[self.done] if self.done < len(DEMO_STEPS) else None
        if name != expected:
            raise ValueError(f"story step {name!r} is not the next one ({expected!r})")
        self.done += 1
        label = f"{name} ({self.done}/{len(DEMO_STEPS)})"
        self._progress.update(self._task, completed=self.done, description=name[:48])
        self._artifact.advance(description=f"demo story: {name}")
        if not self.tty:
            logger.info("story: step %s", label)
