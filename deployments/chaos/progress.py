"""The live progress display of a chaos run (rich): one bar per stage of the returns' journey,
the current phase, and a line for every kill and recovery."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

from rich.console import Console

from deployments.bars import step_bars
from deployments.chaos.plan import CANCELLED_BEFORE, ChaosPlan
from deployments.chaos.procs import Event
from flows.progress import RunProgress

RECEIVE_PREFIX = "receive"
ARTIFACT_KEY = "chaos-run"
"""The run's progress artifact (in the chaos stack's Prefect UI): the bars' mean, in percent."""
CONSOLE_WIDTH = 160
"""Tables printed to a file or pipe (CI, the test) are this wide instead of 80."""


def _tty() -> bool:
    return sys.stdout.isatty()


class ChaosProgress:
    """Bars for authorized, RMAs live, warehouse events and refunds; phase text; events."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.console = Console(width=None if _tty() else CONSOLE_WIDTH)
        self.enabled = enabled
        self._progress = step_bars(self.console, 34, enabled=enabled, refresh_per_second=2)
        self._tasks: dict[str, Any] = {}
        self._phase = self._progress.add_task("starting", total=None)
        self._t0 = time.monotonic()
        self._last_update = 0.0
        self.artifact = RunProgress("chaos run: starting", total=100, key=ARTIFACT_KEY)
        self._artifact_started = False

    def __enter__(self) -> ChaosProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def _say(self, text: str) -> None:
        stamp = f"[{time.monotonic() - self._t0:7.1f}s]"
        self._progress.console.print(f"{stamp} {text}", highlight=False)

    def phase(self, text: str) -> None:
        """The phase the run is in."""
        self._progress.update(self._phase, description=text[:34])
        self._say(text)
        if self._artifact_started:
            self.artifact.advance(0, description=f"chaos run: {text}")

    def note(self, text: str) -> None:
        """One line above the bars."""
        self._say(text)

    def event(self, event: Event) -> None:
        """A kill or a recovery."""
        if event.action.endswith("kill"):
            self._say(f"SIGKILL {event.role} (pid {event.pid}) {event.note}".rstrip())
        else:
            self._say(
                f"{event.role} back (pid {event.pid}), healthy {event.healthy_after_s}s "
                f"after the kill {event.note}".rstrip()
            )

    def plan(self, plan: ChaosPlan) -> None:
        """Create the bars once the plan is known (the Prefect server is up by then)."""
        self.artifact.start()
        self._artifact_started = True
        live_wanted = sum(1 for r in plan.authorized if plan.slots[r] != CANCELLED_BEFORE)
        receive = sum(1 for ev, _ in plan.events.values() if ev.startswith(RECEIVE_PREFIX))
        for key, text, total in (
            ("authorize", "returns authorized (webhooks)", len(plan.authorized)),
            ("rmas", "RMAs live in AMS", live_wanted),
            ("warehouse", "warehouse events applied", len(plan.events)),
            ("refunded", "received returns refunded", receive),
            ("kills", "kills + recoveries", 0),
        ):
            self._tasks[key] = self._progress.add_task(text, total=total or None)

    def update(self, world: Any, plan: ChaosPlan, killer: Any, poller: Any) -> None:
        """Refresh the bars from the world's counters (at most twice a second)."""
        now = time.monotonic()
        if not self._tasks or now - self._last_update < 0.5:
            return
        self._last_update = now
        store = world.stack.returnly_app.state.store
        live = sum(1 for r in plan.authorized if world.live_rma(r) is not None)
        refunded = sum(1 for r in plan.authorized if (rec := store.get(r)) and rec.refunds)
        p = self._progress
        p.update(self._tasks["authorize"], completed=world.log.authorized_sent)
        p.update(self._tasks["rmas"], completed=live)
        p.update(self._tasks["warehouse"], completed=len(world.acted))
        p.update(self._tasks["refunded"], completed=refunded)
        if killer is not None:
            p.update(self._tasks["kills"], total=len(killer.order), completed=killer.done_kills)
        if poller is not None:
            p.update(self._phase, description=f"chaos: poll round {poller.rounds}")
        by_id = {t.id: t for t in self._progress.tasks}
        bars = [by_id[self._tasks[k]] for k in ("authorize", "rmas", "warehouse", "refunded")]
        share = [b.completed / b.total for b in bars if b.total]
        if share:
            self.artifact.set_done(int(100 * sum(share) / len(share)))

    def finish(self, text: str) -> None:
        """The run ended: the artifact says how."""
        if self._artifact_started:
            self.artifact.finish(f"chaos run: {text}")
