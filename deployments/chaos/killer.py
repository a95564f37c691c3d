"""Kills at random moments: the process worker and the task worker ``--kills`` times each, the
receiver once and the Prefect server once, each SIGKILLed by PID and started again.

One thread, one kill at a time, in a shuffled order with random gaps (seeded). A killed role
stays down a random second or three, then is restarted and must become healthy: that is a
recovery. When the scenario is done before every kill has happened, :meth:`Killer.hurry`
shortens the remaining gaps (the polls keep running meanwhile, so the kills still hit work).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from deployments.chaos.procs import Event
from deployments.chaos.runs import crash_orphaned_runs
from deployments.chaos.stack import (
    PROCESS_WORKER,
    RECEIVER,
    SERVER,
    TASK_WORKER,
    ChaosStack,
    server_healthy,
    task_worker_ids,
    wait_for,
    worker_heartbeat_since,
)

logger = logging.getLogger(__name__)

DOWNTIME_S = (1.0, 3.0)
HURRIED_GAP_S = (2.0, 6.0)
RECOVERY_TIMEOUT_S = 240.0
CLIENT_BACK_TIMEOUT_S = 90.0
"""How long the workers get to reconnect after a server restart before a liveness restart."""


def kill_order(kills: int, rng: random.Random) -> list[str]:
    """Every kill the run owes, shuffled: workers ``kills`` times each, receiver and server once."""
    order = [PROCESS_WORKER, TASK_WORKER] * max(0, kills)
    if kills > 0:
        order += [RECEIVER, SERVER]
    rng.shuffle(order)
    return order


@dataclass
class KillReport:
    """What the killer did."""

    crashed_runs: int = 0
    """Deployment runs marked Crashed because their worker died with them."""
    errors: list[str] = field(default_factory=list)
    liveness_restarts: list[str] = field(default_factory=list)
    """Workers that did not recover by themselves after a server restart (and were restarted)."""


class Killer(threading.Thread):
    """Runs the kill plan in the background."""

    def __init__(
        self,
        stack: ChaosStack,
        order: list[str],
        rng: random.Random,
        mean_gap_s: float,
        on_event: Callable[[Event], None],
    ) -> None:
        super().__init__(name="chaos-killer", daemon=True)
        self.stack = stack
        self.order = list(order)
        self.rng = rng
        self.mean_gap_s = mean_gap_s
        self.on_event = on_event
        self.report = KillReport()
        self.done_kills = 0
        self._hurry = threading.Event()
        self._halt = threading.Event()

    def hurry(self) -> None:
        """Do the remaining kills soon."""
        self._hurry.set()

    def stop(self) -> None:
        """Give up the remaining kills (the run is being torn down)."""
        self._halt.set()
        self._hurry.set()

    def _gap(self) -> float:
        if self._hurry.is_set():
            return self.rng.uniform(*HURRIED_GAP_S)
        return self.rng.uniform(0.5, 1.5) * self.mean_gap_s

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._halt.is_set() and time.monotonic() < deadline:
            if self._hurry.is_set():
                deadline = min(deadline, time.monotonic() + HURRIED_GAP_S[1])
            time.sleep(0.2)

    def run(self) -> None:
        """Kill, wait, restart, check; one role after the other."""
        for role in self.order:
            self._sleep(self._gap())
            if self._halt.is_set():
                return
            try:
                self._kill_and_recover(role)
            except Exception as exc:
                logger.exception("kill of %s failed", role)
                self.report.errors.append(f"{role}: {type(exc).__name__}: {exc}")
            self.done_kills += 1

    def _record(self, event: Event) -> None:
        self.on_event(event)  # the supervisor keeps the events themselves

    def _kill_and_recover(self, role: str) -> None:
        sup = self.stack.supervisor
        killed = sup.kill(role)
        self._record(killed)
        if role == PROCESS_WORKER:
            # Its flow-run processes died with it (same process group): no heartbeat will come.
            crashed = crash_orphaned_runs("the chaos run SIGKILLed the process worker")
            self.report.crashed_runs += crashed
            killed.note = f"{crashed} deployment run(s) crashed with it"
        time.sleep(self.rng.uniform(*DOWNTIME_S))
        restarted = sup.restart(role, killed.at, RECOVERY_TIMEOUT_S)
        if role == SERVER:
            restarted.note = self._server_clients_back()
            restarted.healthy_after_s = round(sup.elapsed() - killed.at, 2)
        self._record(restarted)

    def _server_clients_back(self) -> str:
        """After a server restart the workers must be back too: that is the recovery. A
        worker that does not come back in time is restarted, as a liveness probe would."""
        api = self.stack.api_url
        since = time.time()
        wait_for("server healthy", lambda: server_healthy(api), RECOVERY_TIMEOUT_S)
        checks = (
            (TASK_WORKER, "re-subscribed", lambda: bool(task_worker_ids(api))),
            (PROCESS_WORKER, "heartbeating", lambda: worker_heartbeat_since(api, since)),
        )
        notes = []
        for role, what, check in checks:
            try:
                wait_for(f"{role} {what}", check, CLIENT_BACK_TIMEOUT_S)
                notes.append(f"{role} {what}")
            except TimeoutError:
                why = f"not {what} {CLIENT_BACK_TIMEOUT_S:.0f}s after the server restart"
                self._liveness_restart(role, why)
                notes.append(f"{role} {why}: restarted")
        return "; ".join(notes)

    def _liveness_restart(self, role: str, why: str) -> None:
        sup = self.stack.supervisor
        killed = sup.kill(role, note=f"liveness: {why}", action="liveness-kill")
        self._record(killed)
        if role == PROCESS_WORKER:
            self.report.crashed_runs += crash_orphaned_runs("process worker restarted (liveness)")
        restarted = sup.restart(role, killed.at, RECOVERY_TIMEOUT_S, action="liveness-restart")
        self._record(restarted)
        self.report.liveness_restarts.append(f"{role}: {why}")
