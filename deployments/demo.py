"""``make demo``: the whole bridge on this machine, driven by webhooks, with a summary at the end.

Starts a local Prefect server (SQLite), both sandboxes, the webhook receiver and a task worker,
runs the operators' deploy step (``bridge deploy``: work pool, rate limits, block type, alert
automation, every deployment of prefect.yaml, schedules active) and a process worker. Then it
seeds returns, lets webhooks drive intake (task worker; the first webhook also goes out as a
Prefect event, which starts ``intake/on-return-authorized`` through its trigger), drives the
warehouse through the AMS DataFactory, lets completion refund, runs the polling deployments
once as the safety net and the reconciliation (``run_deployment``), then prints a summary:
every deployment run with how it was started, and the Prefect UI address. ``--no-wait`` (CI,
scripts) exits when done instead of waiting for Ctrl-C.

Our own modules are imported inside the phase that needs them, not at the top: some import
Prefect (``deployments.secrets_sweep``, ``demo_review``, ``demo_runs``: 1.4-1.8 s), which must
read the environment this driver sets first (tests/unit/test_run_progress.py checks it), and
the rest cost 0.4-0.9 s each to import (measured one by one on a loaded 2-core machine).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from deployments.event_sampler import EventSampler
from deployments.local_stack import LocalStack, local_stack
from deployments.scenario import ScenarioReport
from deployments.story_progress import StoryProgress
from ledger.inbox import SOURCE_RETURNLY
from runtime import ams_client, get_ledger, load_merchant, returnly_client

logger = logging.getLogger("demo")
Result = dict[str, Any]
EVENT_DEPLOYMENT = "intake/on-return-authorized"
"""Started by the event of the first Returnly return.authorized webhook."""
FAILED_STATES = {"Failed", "Crashed", "TimedOut"}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m deployments.demo", description=__doc__)
    parser.add_argument("--returns", type=int, default=200, help="returns to seed (default 200)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the generated data")
    parser.add_argument("--workdir", type=Path, default=Path("var/demo"))
    parser.add_argument("--no-wait", action="store_true", help="exit when done (CI, scripts)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per waiting step")
    parser.add_argument("--summary-json", type=Path, help="also write the summary here as JSON")
    return parser.parse_args(argv)


def run_scenario(
    stack: LocalStack, args: argparse.Namespace, sampler: EventSampler, story: StoryProgress
) -> Result:
    """The story; returns what the summary prints. Raises DeploymentRunError on a bad run."""
    from deployments import demo_runs, scenario

    merchant = load_merchant(stack.merchant)
    returnly, ams, ledger = returnly_client(merchant), ams_client(merchant), get_ledger()
    report = scenario.ScenarioReport()
    runs: list[demo_runs.DeploymentRun] = []
    scenario.subscribe(merchant, stack.receiver_url, returnly, ams)

    def deployment(name: str) -> None:
        """A deployment run, as the UI's Run button starts one; it must complete."""
        runs.append(demo_runs.run_and_wait(name, {"merchant": merchant.name}, args.timeout))
        logger.info("deployment %s", runs[-1].line())

    started = time.monotonic()
    report.seeded, authorized = scenario.seed_and_authorize(
        stack.returnly_url, returnly, args.returns, args.seed
    )
    report.authorized = len(authorized)
    logger.info("seeded %d returns, %d authorized (webhooks fire)", args.returns, len(authorized))
    story.step("seed returns and authorize them (webhooks fire)")

    def intake_settled() -> bool:
        linked = sum(1 for rid in authorized if ledger.get_link(merchant.name, return_id=rid))
        return linked == len(authorized)

    scenario.wait_until("webhook-driven intake", intake_settled, args.timeout)
    webhook_intake_s = time.monotonic() - started
    logger.info("webhooks drove intake of %d returns in %.1fs", len(authorized), webhook_intake_s)
    story.step("webhook-driven intake")

    to_cancel = authorized[:: scenario.CANCEL_EVERY]
    report.cancelled_before_shipping = to_cancel
    scenario.cancel(stack.returnly_url, to_cancel)
    from stages import names

    def cancels_settled() -> bool:
        done = [ledger.get_link(merchant.name, return_id=rid) for rid in to_cancel]
        return all(lk is not None and lk.stage == names.CANCELLED for lk in done)

    scenario.wait_until("cancellations", cancels_settled, args.timeout)
    story.step("cancellations before shipping")
    deployment("intake/intake-poll")  # the poll: picks up anything a webhook missed
    story.step("intake-poll deployment run")

    scenario.drive_warehouse(ledger, merchant.name, ams, report)
    scenario.cancel(stack.returnly_url, report.cancelled_after_shipping)
    story.step("warehouse events (AMS DataFactory)")

    def inbox_settled() -> bool:
        counts = ledger.counts(merchant.name)["inbox_by_status"]
        return counts.get("pending", 0) == 0 and counts.get("emitted", 0) == 0

    scenario.wait_until("callbacks to be processed", inbox_settled, args.timeout)
    story.step("callbacks processed")
    deployment("intake/intake-poll")  # cancellations after shipping become exceptions
    story.step("intake-poll again (late cancellations)")
    deployment("arrival/arrival-poll")  # the poll: safety net for lost callbacks
    story.step("arrival-poll deployment run")
    if not sampler.sent:
        raise demo_runs.DeploymentRunError("no webhook went out as a Prefect event")
    runs.append(demo_runs.wait_event_run(EVENT_DEPLOYMENT, sampler.sent[0], args.timeout))
    logger.info("deployment %s", runs[-1].line())
    story.step("event-triggered intake run")
    deployment("reconcile/reconcile-now")  # the nightly check, now: report in the UI
    story.step("reconcile-now deployment run")
    # Webhooks the polls caused (refunds, late cancellations) may still be in flight.
    scenario.wait_until("late webhooks to be processed", inbox_settled, args.timeout)
    story.step("late webhooks processed")
    from deployments.demo_review import decide_two_held_refunds

    # A person's part: one held refund approved, one rejected, in their suspended runs.
    reviewed = decide_two_held_refunds(ledger, merchant.name, stack.returnly_url, args.timeout)
    for item in reviewed:
        logger.info("review: %s", item.line())
    story.step("held refunds decided in their suspended review runs")
    from deployments.verify import verify_final_state

    problems = verify_final_state(
        merchant.name,
        ledger=ledger,
        returnly=returnly,
        ams=ams,
        returnly_admin_url=stack.returnly_url,
        cancelled_before_shipping=report.cancelled_before_shipping,
    )
    every_run = demo_runs.runs_since(stack.started_at, runs)
    problems += [
        f"deployment run {r.flow_run_name} ({r.deployment}, {r.trigger}) ended {r.state}"
        for r in every_run
        if r.state in FAILED_STATES
    ]
    story.step("final consistency check")
    return {
        "report": report,
        "counts": ledger.counts(merchant.name),
        "webhook_intake_s": webhook_intake_s,
        "problems": problems,
        "drift": latest_drift(merchant.name),
        "reviewed": reviewed,
        "deployment_runs": every_run,
        "deployments": demo_runs.deployments_overview(),
    }


def latest_drift(merchant: str) -> dict[str, object]:
    """Drift counts of the newest reconciliation report (written by the reconcile run)."""
    from core.settings import load_settings
    from stages.reconcile.report import COUNTS_FILE

    found = sorted(
        (load_settings().reports_dir / merchant).glob(f"*/{COUNTS_FILE}"),
        key=lambda p: p.stat().st_mtime,
    )
    if not found:
        raise FileNotFoundError(f"no reconciliation report for {merchant}")
    data = json.loads(found[-1].read_text(encoding="utf-8"))
    return {k: data[k] for k in ("total", "by_kind", "by_severity")}


def print_summary(stack: LocalStack, result: Result) -> None:
    """A short table by stage and outcome, the deployment runs, and where to look next."""
    counts = result["counts"]
    lines = ["", "=" * 64, "Returnly <-> AMS bridge: demo summary", "=" * 64]
    for title, key in (
        ("returns by stage", "links_by_stage"),
        ("refunds by status", "refunds_by_status"),
        ("open exceptions by reason", "open_exceptions_by_reason"),
        ("inbox messages by status", "inbox_by_status"),
    ):
        lines.append(f"\n{title}:")
        for name, n in sorted(counts.get(key, {}).items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {name:<40} {n:>6}")
    report = result["report"]
    lines.append(f"\nwarehouse events: {report.warehouse_events}")
    lines.append(f"reconciliation (drift rows by kind): {result['drift']}")
    lines.append(f"webhook-driven intake took {result['webhook_intake_s']:.1f}s")
    lines.append("held refunds decided in Prefect (the runs' Resume form, review-held-refund):")
    lines += [f"  {item.line()}" for item in result["reviewed"]] or ["  none held"]
    deployments = result["deployments"]
    scheduled = sorted(n for n, d in deployments.items() if d["active_schedules"])
    triggered = sorted(n for n, d in deployments.items() if d["event_trigger"])
    lines.append(
        f"\ndeployments: {len(deployments)}; schedules active: {', '.join(scheduled)}; "
        f"event triggers: {', '.join(triggered)}"
    )
    lines.append("deployment runs (deployment, started by, state, flow run):")
    lines += [f"  {run.line()}" for run in result["deployment_runs"]]
    problems = result["problems"]
    lines.append(
        "\nconsistency check (Returnly vs AMS vs ledger): " + ("OK" if not problems else "")
    )
    lines += [f"  PROBLEM: {p}" for p in problems]
    lines.append(f"\nPrefect UI: {stack.ui_url}  (deployments, runs, logs, artifacts)")
    lines.append(f"ledger:     {stack.workdir / 'ledger.db'}")
    lines.append(f"logs:       {stack.workdir}/{{worker,task-worker,deploy}}.log")
    print("\n".join(lines), flush=True)  # noqa: T201 (the demo's output)


def wait_for_interrupt() -> None:
    """Keep everything up until Ctrl-C (or SIGTERM)."""
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print("\nPress Ctrl-C to stop everything.", flush=True)  # noqa: T201
    stop.wait()


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; 0 when every step completed."""
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the servers and workers started below are stopped.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    story = StoryProgress()
    handler = story.log_handler()
    if not story.tty:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    for noisy in ("httpx", "prefect", "uvicorn"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sampler = EventSampler(SOURCE_RETURNLY, "return.authorized")
    with local_stack(args.workdir, dispatch="task", deploy=True, also_dispatch=sampler) as stack:
        for noisy in ("prefect", "prefect.tasks"):  # Prefect set its own levels on import
            logging.getLogger(noisy).setLevel(logging.WARNING)
        for line in stack.deploy_output:
            logger.info("deploy step: %s", line)
        logger.info("Prefect UI at %s", stack.ui_url)
        from deployments.demo_runs import DeploymentRunError

        try:
            with story:
                result = run_scenario(stack, args, sampler, story)
        except DeploymentRunError as exc:
            print(f"\nDEMO FAILED: {exc}", flush=True)  # noqa: T201
            print(f"worker log: {stack.workdir / 'worker.log'}", flush=True)  # noqa: T201
            if not args.no_wait:
                wait_for_interrupt()
            return 1
        print_summary(stack, result)
        if args.summary_json:
            write_summary(args.summary_json, result)
        if not args.no_wait:
            wait_for_interrupt()
    return 1 if result["problems"] else 0


def write_summary(path: Path, result: Result) -> None:
    """The summary as JSON, for scripts and the end-to-end test."""
    report = result["report"]
    assert isinstance(report, ScenarioReport)
    data = {
        "counts": result["counts"],
        "problems": result["problems"],
        "webhook_intake_s": result["webhook_intake_s"],
        "drift": result["drift"],
        "reviewed": [item.model_dump() for item in result["reviewed"]],
        "report": dataclasses.asdict(report),
        "deployments": result["deployments"],
        "deployment_runs": [run.as_dict() for run in result["deployment_runs"]],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
