"""The safety-net deployments as the chaos run drives them: back to back while chaos lasts,
then in rounds until quiet (nothing changed between two rounds, every run completed).

``intake/intake-poll`` and ``arrival/arrival-poll`` batch their AMS calls (30 per request), so
they catch up whatever the webhook path has not done yet; ``sweep-inbox/sweep-inbox``
re-dispatches webhooks whose hand-off to Prefect was lost. Schedules are paused in the chaos
run, so these are the only poll runs, and each is timed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from deployments.chaos.export import sandbox_export
from deployments.chaos.runs import RunRecord, run_once
from deployments.chaos.stack import ChaosStack
from ledger import ExceptionRecord, Ledger, Link, RefundAttempt

logger = logging.getLogger(__name__)

INTAKE = "intake/intake-poll"
ARRIVAL = "arrival/arrival-poll"
SWEEP = "sweep-inbox/sweep-inbox"
RECONCILE = "reconcile/reconcile-now"
SWEEP_EVERY_S = 60.0
SWEEP_PARAMS = {"older_than_seconds": 60, "limit": 500}
QUIET_ROUNDS_MIN = 2
"""Quiet means a round changed nothing after a round that may have: at least two rounds."""
QUIET_ROUNDS_MAX = 12


def poll_timeout_s(returns: int) -> float:
    """How long one poll run may take before the run gives up waiting for it."""
    return 300.0 + returns * 0.12


class _Loop(threading.Thread):
    """Deployment runs one after the other (``pause_s`` before each round), until stopped."""

    def __init__(
        self,
        name: str,
        runs: list[tuple[str, dict[str, Any]]],
        owner: Poller,
        pause_s: float = 0.0,
    ) -> None:
        super().__init__(name=f"chaos-poll-{name}", daemon=True)
        self.runs = runs
        self.owner = owner
        self.pause_s = pause_s
        self.rounds = 0

    def run(self) -> None:
        """Until the owner is halted."""
        while not self.owner.halted.wait(self.pause_s):
            for deployment, params in self.runs:
                if self.owner.halted.is_set():
                    return
                try:
                    record = run_once(deployment, params, self.owner.t0, self.owner.timeout_s)
                    self.owner.records.append(record)
                except Exception:
                    logger.exception("%s could not be run", deployment)
                    time.sleep(2.0)
            self.rounds += 1


class Poller:
    """The safety-net polls while chaos lasts: intake-poll and arrival-poll each back to
    back, side by side (two deployments, two concurrency limits), and sweep-inbox every
    minute. ``rounds`` counts the runs both polls have completed (whatever their state)."""

    def __init__(self, merchant: str, t0: float, timeout_s: float) -> None:
        self.t0 = t0
        self.timeout_s = timeout_s
        self.records: list[RunRecord] = []
        self.halted = threading.Event()
        params = {"merchant": merchant}
        self._loops = [
            _Loop("intake", [(INTAKE, params)], self),
            _Loop("arrival", [(ARRIVAL, params)], self),
            _Loop("sweep", [(SWEEP, SWEEP_PARAMS)], self, pause_s=SWEEP_EVERY_S),
        ]

    @property
    def rounds(self) -> int:
        """Runs completed by both intake-poll and arrival-poll."""
        return min(loop.rounds for loop in self._loops[:2])

    def start(self) -> None:
        """Start the loops (sweep-inbox after its first minute)."""
        for loop in self._loops:
            loop.start()

    def stop(self) -> None:
        """Let the runs in progress finish, start no more."""
        self.halted.set()

    def join(self, timeout: float) -> None:
        """Wait for the loops to end (at most ``timeout`` seconds in all)."""
        deadline = time.monotonic() + timeout
        for loop in self._loops:
            loop.join(timeout=max(0.0, deadline - time.monotonic()))


def fingerprint(stack: ChaosStack, ledger: Ledger) -> str:
    """A digest of everything the polls could still change: both sandboxes and the ledger."""
    ams = sandbox_export(stack.ams_url)
    returnly = sandbox_export(stack.returnly_url)
    with ledger.engine.connect() as conn:
        links = sorted((r.return_id, r.stage) for r in conn.execute(select(Link)))
        attempts = sorted((r.key, r.status) for r in conn.execute(select(RefundAttempt)))
        exceptions = sorted(
            (r.reason, r.subject)
            for r in conn.execute(select(ExceptionRecord).where(ExceptionRecord.status == "open"))
        )
    state = {
        "rmas": sorted((r.get("id"), r.get("status"), r.get("version")) for r in ams["rmas"]),
        "returns": sorted(
            (r["id"], r["status"], len(r["refund_ids"])) for r in returnly["returns"]
        ),
        "links": links,
        "attempts": attempts,
        "exceptions": exceptions,
    }
    return hashlib.sha256(json.dumps(state, default=str).encode()).hexdigest()


def settle(
    stack: ChaosStack,
    ledger: Ledger,
    merchant: str,
    t0: float,
    timeout_s: float,
    on_round: Callable[[int, bool], None],
) -> tuple[list[RunRecord], int, bool]:
    """Rounds of intake-poll, arrival-poll, sweep-inbox until two rounds in a row leave the
    same state and all completed; answers the runs, the rounds and whether it got quiet."""
    records: list[RunRecord] = []
    previous = fingerprint(stack, ledger)
    for n in range(1, QUIET_ROUNDS_MAX + 1):
        round_records = [
            run_once(INTAKE, {"merchant": merchant}, t0, timeout_s),
            run_once(ARRIVAL, {"merchant": merchant}, t0, timeout_s),
            run_once(SWEEP, SWEEP_PARAMS, t0, timeout_s),
        ]
        records += round_records
        current = fingerprint(stack, ledger)
        completed = all(r.state == "COMPLETED" for r in round_records)
        quiet = n >= QUIET_ROUNDS_MIN and current == previous and completed
        on_round(n, quiet)
        if quiet:
            return records, n, True
        previous = current
    return records, QUIET_ROUNDS_MAX, False
