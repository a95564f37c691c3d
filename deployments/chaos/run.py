"""The chaos run, start to end: stack, seed, faults + kills while the scenario plays, faults
off, polls until quiet, reconciliation, exports, invariants, report. Exit code 1 when any
invariant is violated (or the run could not finish).

Our own modules are imported inside the phase that needs them, not at the top: some import
Prefect (``deployments.secrets_sweep``, ``demo_review``, ``demo_runs``: 1.4-1.8 s), which must
read the environment this driver sets first (tests/unit/test_run_progress.py checks it), and
the rest cost 0.4-0.9 s each to import (measured one by one on a loaded 2-core machine).
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from deployments.chaos.options import ChaosOptions
from deployments.chaos.progress import ChaosProgress
from deployments.chaos.report import RunResult, print_report, write_summary
from runtime import ams_client, get_ledger, load_merchant, returnly_client

logger = logging.getLogger("chaos")
TICK_S = 1.0
WAREHOUSE_EVERY_S = 3.0
SAMPLE_EVERY_S = 5.0


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _logging(workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "chaos.log"
    path.write_text("", encoding="utf-8")
    # Append mode: dictConfig (Prefect's, uvicorn's) closes every handler, and only a handler
    # not opened with "w" reopens its file at the next record.
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(threadName)s %(name)s: %(message)s"))
    # Named loggers, not the root: importing Prefect reconfigures the root logger.
    for name in ("chaos", "deployments"):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.setLevel(logging.INFO)
        log.propagate = False


@dataclass
class _Chaos:
    """State of the faulted phase shared by its loop's helpers."""

    authorize_done: threading.Event = field(default_factory=threading.Event)
    warehouse_done_at_round: int | None = None
    no_rma: list[str] = field(default_factory=list)
    timed_out: bool = False
    timeline: list[dict[str, Any]] = field(default_factory=list)


def _log_thread_error(args: threading.ExceptHookArgs) -> None:
    """Background threads (the sandboxes' delivery threads at teardown) log, never print."""
    name = args.thread.name if args.thread else "?"
    logger.warning("thread %s ended with %s: %s", name, args.exc_type.__name__, args.exc_value)


def run(opts: ChaosOptions) -> int:
    """Run it; 0 when every invariant held."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    threading.excepthook = _log_thread_error
    t0 = time.monotonic()
    workdir = opts.workdir.resolve()
    _logging(workdir)
    result = RunResult(options=opts)
    progress = ChaosProgress(enabled=opts.progress)
    try:
        with progress:
            _run(opts, t0, workdir, result, progress)
    finally:
        # Also when interrupted or failed: what was measured so far is reported.
        result.wall_s = round(time.monotonic() - t0, 1)
        print_report(result, progress.console)
        if opts.summary_json:
            write_summary(opts.summary_json, result)
    return 0 if result.ok else 1


def _run(
    opts: ChaosOptions, t0: float, workdir: Path, result: RunResult, progress: ChaosProgress
) -> None:
    from deployments.chaos.stack import chaos_stack

    progress.phase("starting the stack (Prefect server, deploy step, workers, receiver)")
    with chaos_stack(workdir, t0, rate_limits=opts.rate_limits) as stack:
        from deployments.chaos.meter import Meter

        meter = Meter(stack.supervisor, t0)
        meter.phases.append(_started(meter))
        result.meter = meter
        result.events = stack.supervisor.events
        try:
            _scenario(opts, t0, stack, meter, result, progress)
        finally:
            meter.end()
            result.cpu_total = meter.totals()
            progress.phase("stopping everything")


def _started(meter: Any) -> Any:
    from deployments.chaos.meter import Phase

    phase = Phase("start stack + deploy", 0.0, round(meter.now(), 2))
    phase.cpu_s = {k: round(v, 1) for k, v in meter.sample().items()}
    return phase


def _scenario(
    opts: ChaosOptions,
    t0: float,
    stack: Any,
    meter: Any,
    result: RunResult,
    progress: ChaosProgress,
) -> None:
    from deployments import scenario
    from deployments.chaos import faults
    from deployments.chaos.plan import make_plan
    from deployments.chaos.world import World

    merchant = load_merchant(stack.merchant)
    ledger = get_ledger()
    world = World(stack)
    result.world = world.log
    meter.begin("seed")
    progress.phase(f"seeding {opts.returns} returns")
    authorized = world.seed(opts.returns, opts.seed)
    plan = make_plan(authorized)
    result.plan = plan
    returnly, ams = returnly_client(merchant), ams_client(merchant)
    scenario.subscribe(merchant, stack.receiver_url, returnly, ams)
    progress.plan(plan)

    meter.begin("chaos: faults on, kills, scenario")
    on = opts.fault_rate > 0
    for url, side in ((stack.returnly_url, "returnly"), (stack.ams_url, "ams")):
        body = faults.fault_config(opts.fault_rate, opts.seed, opts.duplicates, side=side, on=on)
        result.fault_configs[side] = faults.put_faults(url, body)
        result.requests_on[side] = faults.request_summary(url)
    with _background(opts, t0, stack, result, progress) as (killer, poller, state):
        authorizer = threading.Thread(
            target=_authorize, args=(world, plan, state), name="chaos-authorize", daemon=True
        )
        authorizer.start()
        _chaos_loop(opts, stack, ledger, world, plan, killer, poller, state, progress, meter)
        for url, side in ((stack.returnly_url, "returnly"), (stack.ams_url, "ams")):
            result.injected[side] = faults.read_faults(url).get("injected", {})
            result.requests_off[side] = faults.request_summary(url)
            faults.clear_faults(url)
        result.timed_out = state.timed_out
        result.timeline = state.timeline
        plan.mark_no_rma(state.no_rma)
        if state.timed_out:  # what the warehouse never got to did not ship
            plan.mark_no_rma([r for r in plan.shipped if r not in world.acted])
    world.close()
    _finish(opts, t0, stack, ledger, merchant.name, world, plan, meter, result, progress)


@contextlib.contextmanager
def _background(
    opts: ChaosOptions, t0: float, stack: Any, result: RunResult, progress: ChaosProgress
) -> Iterator[tuple[Any, Any, _Chaos]]:
    from deployments.chaos.killer import Killer, kill_order
    from deployments.chaos.polls import Poller, poll_timeout_s

    rng = random.Random(opts.seed)
    order = kill_order(opts.kills, rng)
    gap = opts.expected_chaos_s / (len(order) + 1) if order else 0.0
    killer = Killer(stack, order, rng, gap, progress.event)
    poller = Poller(stack.merchant, t0, poll_timeout_s(opts.returns))
    result.kill_plan = order
    killer.start()
    poller.start()
    interrupted = True
    try:
        yield killer, poller, _Chaos()
        interrupted = False
    finally:
        killer.stop()
        poller.stop()
        # Normally the kill in progress and the poll in progress finish; on an error or a
        # signal the processes are stopped anyway, so do not wait for them.
        killer.join(timeout=5 if interrupted else 600)
        poller.join(timeout=5 if interrupted else poll_timeout_s(opts.returns))
        result.kill_errors = killer.report.errors
        result.liveness_restarts = killer.report.liveness_restarts
        result.crashed_runs = killer.report.crashed_runs
        result.runs += poller.records


def _authorize(world: Any, plan: Any, state: _Chaos) -> None:
    try:
        world.authorize(plan.authorized, threading.Event())
    finally:
        state.authorize_done.set()


def _chaos_loop(
    opts: ChaosOptions,
    stack: Any,
    ledger: Any,
    world: Any,
    plan: Any,
    killer: Any,
    poller: Any,
    state: _Chaos,
    progress: ChaosProgress,
    meter: Any,
) -> None:
    """Drive the warehouse as RMAs appear; end once everything shipped, a poll round ran
    after that, and every kill happened (or the phase timed out)."""
    from deployments.chaos.world import World

    assert isinstance(world, World)
    deadline = time.monotonic() + opts.chaos_timeout_s
    last_warehouse = last_sample = 0.0
    progress.phase("chaos: webhooks, polls, warehouse, faults and kills")
    while True:
        now = time.monotonic()
        if now - last_warehouse >= WAREHOUSE_EVERY_S and world.log.authorized_sent:
            last_warehouse = now
            try:
                world.warehouse_pass(plan)
            except Exception:
                logger.exception("warehouse pass failed")
        if now - last_sample >= SAMPLE_EVERY_S:
            last_sample = now
            state.timeline.append(_sample(stack, ledger, world, plan, meter))
        progress.update(world, plan, killer, poller)
        if state.warehouse_done_at_round is None and _warehouse_done(
            stack, ledger, world, plan, poller, state
        ):
            state.warehouse_done_at_round = poller.rounds
            killer.hurry()
            progress.phase("chaos: scenario done, last polls and kills under faults")
        if (
            state.warehouse_done_at_round is not None
            and poller.rounds > state.warehouse_done_at_round
            and not killer.is_alive()
        ):
            return
        if now > deadline:
            state.timed_out = True
            logger.warning("the faulted phase timed out after %.0fs", opts.chaos_timeout_s)
            return
        time.sleep(TICK_S)


def _warehouse_done(
    stack: Any, ledger: Any, world: Any, plan: Any, poller: Any, state: _Chaos
) -> bool:
    if not state.authorize_done.is_set():
        return False
    left = [r for r in plan.shipped if r not in world.acted]
    if not left:
        _cancel_leftovers(world, plan)
        return True
    if poller.rounds < 2:
        return False
    # What is left never got an RMA: fine when the bridge says why (an intake exception).
    links = {lk.return_id: lk for lk in ledger.links_for(stack.merchant, return_ids=left)}
    stuck = [r for r in left if world.live_rma(r) is None]
    if len(stuck) == len(left) and all(
        links.get(r) is not None and links[r].stage == "intake_exception" for r in stuck
    ):
        state.no_rma = stuck
        _cancel_leftovers(world, plan)
        return True
    return False


def _cancel_leftovers(world: Any, plan: Any) -> None:
    """Returns to cancel before shipping whose RMA never appeared: cancel them anyway."""
    for rid in plan.cancelled_before:
        if rid not in world.cancelled:
            world.cancel(rid, after_shipping=False)


def _sample(stack: Any, ledger: Any, world: Any, plan: Any, meter: Any) -> dict[str, Any]:
    store = stack.returnly_app.state.store
    inbox = ledger.counts(stack.merchant)["inbox_by_status"]
    return {
        "t": round(meter.now(), 1),
        "authorized_sent": world.log.authorized_sent,
        "rmas_live": sum(1 for r in plan.authorized if world.live_rma(r) is not None),
        "warehouse_acted": len(world.acted),
        "refunded": sum(1 for r in plan.authorized if (rec := store.get(r)) and rec.refunds),
        "inbox": dict(inbox),
        "cpu_s": {k: round(v, 1) for k, v in meter.sample().items()},
    }


def _finish(
    opts: ChaosOptions,
    t0: float,
    stack: Any,
    ledger: Any,
    merchant: str,
    world: Any,
    plan: Any,
    meter: Any,
    result: RunResult,
    progress: ChaosProgress,
) -> None:
    from deployments.chaos import export, faults, invariants, polls
    from deployments.chaos.runs import run_once
    from deployments.chaos.stack import RECEIVER, TASK_WORKER

    timeout = polls.poll_timeout_s(opts.returns)
    meter.begin("settle: faults off, polls until quiet")
    progress.phase("faults off: polls until quiet")

    def on_round(n: int, quiet: bool) -> None:
        progress.update(world, plan, None, None)
        progress.note(f"settle round {n}: {'quiet' if quiet else 'still changing'}")

    runs, rounds, quiet = polls.settle(stack, ledger, merchant, t0, timeout, on_round)
    result.runs += runs
    result.settle_rounds, result.quiet = rounds, quiet
    result.inbox_at_freeze = ledger.counts(merchant)["inbox_by_status"]
    meter.begin("freeze + reconcile")
    progress.phase("stopping the task worker and receiver; reconcile-now")
    for role in (TASK_WORKER, RECEIVER):
        stack.supervisor.stop(role)
    reconcile = run_once(polls.RECONCILE, {"merchant": merchant}, t0, timeout)
    result.runs.append(reconcile)
    result.reconcile_state = reconcile.state
    meter.begin("export + invariants")
    progress.phase("exporting both sandboxes and the ledger; invariants")
    counts, drift = export.latest_report(stack.workdir / "reports", merchant)
    collected = export.Collected(
        ams=export.sandbox_export(stack.ams_url),
        returnly=export.sandbox_export(stack.returnly_url),
        ledger=export.ledger_snapshot(ledger, merchant),
        drift=drift,
        counts=counts,
        requests={
            "ams": faults.request_summary(stack.ams_url),
            "returnly": faults.request_summary(stack.returnly_url),
        },
    )
    if opts.export:
        result.export_files = [str(p) for p in export.write_exports(opts.export, collected)]
    result.drift_counts = counts
    result.requests = collected.requests
    result.invariants = invariants.check_all(
        ams=collected.ams,
        returnly=collected.returnly,
        ledger=collected.ledger,
        drift=collected.drift,
        plan=plan,
    )
    facts = invariants.index(collected.ams, collected.returnly, collected.ledger)
    result.outcomes = invariants.outcome_counts(facts, plan)
    result.ledger_counts = ledger.counts(merchant)
    broken = sum(inv.violations for inv in result.invariants)
    progress.finish(f"{len(result.invariants)} invariants, {broken} violations")
    meter.begin("secrets sweep")
    progress.phase("secrets sweep: Prefect's records, logs, ledger, reports")
    from deployments.secrets_sweep import sweep

    secrets = load_merchant(merchant).secret_values()
    result.secrets_sweep = sweep(stack.api_url, secrets, [stack.workdir]).as_dict()
