"""Where the time goes: wall time per phase, and CPU seconds per process role per phase.

CPU comes from ``/proc`` (user + system of every process in a role's process groups, with
the children they reaped), sampled often enough that a killed process's last figures are
kept. ``driver`` is this process: the two sandboxes, the scenario and the progress display.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

from deployments.chaos.procs import Supervisor, cpu_by_group

DRIVER = "driver+sandboxes"


def _self_cpu() -> float:
    t = os.times()
    return t.user + t.system


@dataclass
class Phase:
    """One phase of the run."""

    name: str
    start_s: float
    end_s: float | None = None
    cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def wall_s(self) -> float:
        """Wall seconds (so far, while running)."""
        return round((self.end_s or self.start_s) - self.start_s, 2)


class Meter:
    """Phase clock and CPU sampler."""

    def __init__(self, supervisor: Supervisor, t0: float) -> None:
        self.sup = supervisor
        self.t0 = t0
        self.phases: list[Phase] = []
        self._best: dict[int, float] = {}
        """Highest CPU seen per process group (a group's CPU only grows until it is gone)."""
        self._lock = threading.Lock()
        self._at_phase_start: dict[str, float] = {}

    def now(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.t0

    def sample(self) -> dict[str, float]:
        """CPU seconds per role so far (every generation of its process)."""
        with self._lock:
            totals: dict[str, float] = {DRIVER: _self_cpu()}
            groups = self.sup.groups_by_role()
            now = cpu_by_group()
            for role, pgids in groups.items():
                for pgid in pgids:
                    seen = now.get(pgid, 0.0)
                    self._best[pgid] = max(self._best.get(pgid, 0.0), seen)
                    totals[role] = totals.get(role, 0.0) + self._best[pgid]
            return totals

    def begin(self, name: str) -> Phase:
        """End the current phase (if any) and start ``name``."""
        now = round(self.now(), 2)
        totals = self.sample()
        if self.phases and self.phases[-1].end_s is None:
            self._close(self.phases[-1], now, totals)
        phase = Phase(name, now)
        self.phases.append(phase)
        self._at_phase_start = totals
        return phase

    def end(self) -> None:
        """End the current phase."""
        if self.phases and self.phases[-1].end_s is None:
            self._close(self.phases[-1], round(self.now(), 2), self.sample())

    def _close(self, phase: Phase, now: float, totals: dict[str, float]) -> None:
        phase.end_s = now
        phase.cpu_s = {
            role: round(total - self._at_phase_start.get(role, 0.0), 1)
            for role, total in sorted(totals.items())
        }

    def totals(self) -> dict[str, float]:
        """CPU seconds per role over the whole run."""
        return {k: round(v, 1) for k, v in sorted(self.sample().items())}
