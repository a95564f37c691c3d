"""Child processes the chaos run owns: start, SIGKILL by PID, restart, wait until healthy.

Each child is started in its own session, so its process group id is the PID we started:
a kill is ``os.killpg(pid, SIGKILL)``, plus the groups of its own descendants that started a
session of their own (a process worker runs each flow run in one), found by parent PID in
``/proc``. Nothing is ever looked up or killed by name. :class:`Supervisor` remembers every
group it started (or found that way) and ends them all on exit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deployments.prefect_server import spawn

logger = logging.getLogger(__name__)

HealthCheck = Callable[["Managed"], bool]
"""True once the (re)started process does its job; may raise while it is not ready."""
STOP_TIMEOUT_S = 10.0
HEALTH_POLL_S = 0.5


@dataclass
class Event:
    """A kill or a recovery, for the run's table."""

    role: str
    action: str
    """``kill``, ``restart``, ``stop``, or ``liveness-kill`` / ``liveness-restart`` (a worker
    that did not recover after a server restart, restarted as a supervisor would)."""
    at: float
    """Seconds since the run started."""
    pid: int
    healthy_after_s: float | None = None
    """For a restart: seconds from the kill until the new process was healthy."""
    note: str = ""


@dataclass
class Managed:
    """One role (server, worker, ...) and the process currently playing it."""

    role: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    health: HealthCheck
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    """``time.time()`` of the current process's start (health checks compare with it)."""
    generation: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def pid(self) -> int:
        """The PID of the current process (0 when none)."""
        return self.proc.pid if self.proc is not None else 0

    def alive(self) -> bool:
        """The current process is running."""
        return self.proc is not None and self.proc.poll() is None


class Supervisor:
    """Starts, kills, restarts and finally stops the run's child processes."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.roles: dict[str, Managed] = {}
        self.events: list[Event] = []
        self._groups: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return round(time.monotonic() - self.t0, 2)

    def _adopt(self, role: str, pgids: list[int]) -> list[int]:
        """Remember groups a child started (CPU accounting, final cleanup)."""
        with self._lock:
            known = {pgid for _r, pgid in self._groups}
            self._groups += [(role, pgid) for pgid in pgids if pgid not in known]
        return pgids

    def groups_by_role(self) -> dict[str, list[int]]:
        """Every process group started so far, per role (one per generation)."""
        with self._lock:
            out: dict[str, list[int]] = {}
            for role, pgid in self._groups:
                out.setdefault(role, []).append(pgid)
            return out

    def add(self, managed: Managed) -> Managed:
        """Register a role (not started yet)."""
        self.roles[managed.role] = managed
        return managed

    def start(self, role: str, timeout_s: float = 180.0) -> Managed:
        """Start a role's process and wait until it is healthy."""
        managed = self.roles[role]
        with managed.lock:
            self._spawn(managed)
        self.wait_healthy(managed, timeout_s)
        return managed

    def _spawn(self, managed: Managed) -> None:
        managed.started_at = time.time()
        managed.proc = spawn(managed.argv, managed.env, managed.log, cwd=managed.cwd)
        managed.generation += 1
        with self._lock:
            self._groups.append((managed.role, managed.proc.pid))
        logger.info("started %s (pid %d)", managed.role, managed.proc.pid)

    def wait_healthy(self, managed: Managed, timeout_s: float) -> float:
        """Seconds until ``managed`` answered healthy; raises when it died or never did."""
        start = time.monotonic()
        deadline = start + timeout_s
        while True:
            if not managed.alive():
                code = managed.proc.returncode if managed.proc else None
                raise RuntimeError(f"{managed.role} exited ({code}); see {managed.log}")
            try:
                if managed.health(managed):
                    return time.monotonic() - start
            except Exception as exc:  # not ready yet: connection refused, 5xx, ...
                logger.debug("%s not healthy yet: %s", managed.role, exc)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{managed.role} not healthy after {timeout_s:.0f}s")
            time.sleep(HEALTH_POLL_S)

    def kill(self, role: str, note: str = "", action: str = "kill") -> Event:
        """SIGKILL the role's process group (the PID we started) and the groups of the
        processes it started in sessions of their own (a process worker's flow runs), as a
        crash of its host would; then reap it."""
        managed = self.roles[role]
        with managed.lock:
            proc = managed.proc
            if proc is None:
                raise RuntimeError(f"{role} is not running")
            groups = [proc.pid, *self._adopt(role, descendant_groups(proc.pid))]
            for pgid in groups:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)
            proc.wait(timeout=30)
        event = Event(role, action, self.elapsed(), proc.pid, note=note)
        self.events.append(event)
        logger.info("killed %s (pid %d) %s", role, proc.pid, note)
        return event

    def restart(
        self, role: str, killed_at: float, timeout_s: float = 180.0, action: str = "restart"
    ) -> Event:
        """Start the role again and wait until healthy; the event says how long recovery took."""
        managed = self.roles[role]
        with managed.lock:
            self._spawn(managed)
        self.wait_healthy(managed, timeout_s)
        event = Event(
            role,
            action,
            self.elapsed(),
            managed.pid,
            healthy_after_s=round(self.elapsed() - killed_at, 2),
        )
        self.events.append(event)
        return event

    def stop(self, role: str) -> None:
        """SIGTERM the role's group, SIGKILL if it lingers (a clean stop, not a fault)."""
        managed = self.roles.get(role)
        if managed is None or managed.proc is None:
            return
        with managed.lock:
            _terminate(managed.proc.pid, managed.proc)
            self.events.append(Event(role, "stop", self.elapsed(), managed.proc.pid))

    def stop_all(self) -> None:
        """End every process group this supervisor started, newest first (and those its
        children started in sessions of their own)."""
        for role in reversed(list(self.roles)):
            managed = self.roles[role]
            if managed.alive() and managed.proc is not None:
                self._adopt(role, descendant_groups(managed.proc.pid))
                _terminate(managed.proc.pid, managed.proc)
        with self._lock:
            groups = [pgid for _role, pgid in reversed(self._groups)]
        for pgid in groups:  # leftovers: children of a killed leader, other generations
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)


def _terminate(pgid: int, proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        proc.wait(timeout=10)


def _proc_stats() -> dict[int, tuple[int, int, list[str]]]:
    """pid -> (ppid, pgrp, the stat fields after the command) of every process."""
    out: dict[int, tuple[int, int, list[str]]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        out[int(entry.name)] = (int(fields[1]), int(fields[2]), fields)
    return out


def descendant_groups(pid: int) -> list[int]:
    """Process groups of ``pid``'s descendants that are not ``pid``'s own group."""
    stats = _proc_stats()
    children: dict[int, list[int]] = {}
    for child, (ppid, _pgrp, _f) in stats.items():
        children.setdefault(ppid, []).append(child)
    groups: list[int] = []
    todo = list(children.get(pid, []))
    while todo:
        p = todo.pop()
        pgrp = stats[p][1]
        if pgrp != pid and pgrp not in groups:
            groups.append(pgrp)
        todo += children.get(p, [])
    return groups


def cpu_by_group() -> dict[int, float]:
    """User+system CPU seconds per process group: every live process, plus the children each
    has reaped (so a finished flow-run process still counts for its worker)."""
    tick = os.sysconf("SC_CLK_TCK")
    totals: dict[int, float] = {}
    for _ppid, pgrp, fields in _proc_stats().values():
        utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
        totals[pgrp] = totals.get(pgrp, 0.0) + (utime + stime + cutime + cstime) / tick
    return totals


def env_with(base: Mapping[str, str], **extra: str) -> dict[str, str]:
    """A copy of ``base`` with ``extra`` set."""
    return {**base, **extra}
