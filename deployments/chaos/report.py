"""The chaos run's result: tables on the console (phases and CPU, faults injected, kills and
recoveries, deployment runs, invariants) and the same as JSON for scripts and the test."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from deployments.chaos.invariants import InvariantResult
from deployments.chaos.options import ChaosOptions
from deployments.chaos.plan import ChaosPlan
from deployments.chaos.procs import Event
from deployments.chaos.runs import RunRecord


@dataclass
class RunResult:
    """Everything the report shows."""

    options: ChaosOptions
    wall_s: float = 0.0
    meter: Any = None
    cpu_total: dict[str, float] = field(default_factory=dict)
    plan: ChaosPlan | None = None
    world: Any = None
    fault_configs: dict[str, Any] = field(default_factory=dict)
    injected: dict[str, dict[str, int]] = field(default_factory=dict)
    requests: dict[str, Any] = field(default_factory=dict)
    requests_on: dict[str, Any] = field(default_factory=dict)
    """Request summaries when the faults were turned on, and off: the faulted window."""
    requests_off: dict[str, Any] = field(default_factory=dict)
    kill_plan: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    kill_errors: list[str] = field(default_factory=list)
    liveness_restarts: list[str] = field(default_factory=list)
    crashed_runs: int = 0
    runs: list[RunRecord] = field(default_factory=list)
    timed_out: bool = False
    timeline: list[dict[str, Any]] = field(default_factory=list)
    settle_rounds: int = 0
    quiet: bool = False
    inbox_at_freeze: dict[str, int] = field(default_factory=dict)
    reconcile_state: str = ""
    drift_counts: dict[str, Any] = field(default_factory=dict)
    invariants: list[InvariantResult] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    ledger_counts: dict[str, Any] = field(default_factory=dict)
    export_files: list[str] = field(default_factory=list)
    secrets_sweep: dict[str, Any] = field(default_factory=dict)
    """What :mod:`deployments.secrets_sweep` searched after the run, and its hits."""

    @property
    def problems(self) -> list[str]:
        """Why the run failed, besides invariant violations."""
        out = []
        if not self.invariants:
            out.append("the run did not get as far as checking the invariants")
        if self.reconcile_state and self.reconcile_state != "COMPLETED":
            out.append(f"reconcile-now ended {self.reconcile_state}")
        if self.invariants and not self.quiet:
            out.append(f"the polls did not get quiet in {self.settle_rounds} rounds")
        hits = self.secrets_sweep.get("hits", [])
        out += [f"secret {h['secret']} ({h['form']}) found in {h['where']}" for h in hits]
        out += [f"kill failed: {e}" for e in self.kill_errors]
        done = sum(1 for e in self.events if e.action == "kill")
        if done < len(self.kill_plan):
            out.append(f"only {done} of {len(self.kill_plan)} kills happened")
        return out

    @property
    def violations(self) -> int:
        """Total violations over every invariant."""
        return sum(i.violations for i in self.invariants)

    @property
    def ok(self) -> bool:
        """Every invariant held and the run finished."""
        return not self.problems and self.violations == 0


def _requests_total(summary: dict[str, Any]) -> int:
    return int(summary.get("total", 0)) if summary else 0


MILESTONES = ("authorized_sent", "rmas_live", "warehouse_acted", "refunded")


def milestones(timeline: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """For each counter of the faulted phase: its highest value and when it was first reached,
    and the webhook path's throughput (inbox messages processed per second)."""
    out: dict[str, dict[str, float]] = {}
    if not timeline:
        return out
    for key in MILESTONES:
        top = max(int(t.get(key, 0)) for t in timeline)
        first = next(t["t"] for t in timeline if int(t.get(key, 0)) >= top)
        out[key] = {"max": top, "reached_at_s": first}
    processed = [(t["t"], int(t.get("inbox", {}).get("processed", 0))) for t in timeline]
    (t_a, n_a), (t_b, n_b) = processed[0], processed[-1]
    if t_b > t_a:
        out["inbox_processed"] = {
            "count": n_b - n_a,
            "per_s": round((n_b - n_a) / (t_b - t_a), 2),
            "over_s": round(t_b - t_a, 1),
        }
    return out


def fault_rows(result: RunResult) -> list[tuple[str, str, int]]:
    """(sandbox, fault kind, count) for every fault injected."""
    rows = []
    for side in ("returnly", "ams"):
        for kind, n in sorted(result.injected.get(side, {}).items()):
            rows.append((side, kind, int(n)))
    return rows


NOT_BRIDGE_PATHS = ("data_factory",)
"""Requests the scenario makes (the warehouse), not the bridge: never faulted, not counted."""


def bridge_requests(summary: dict[str, Any]) -> int:
    """API requests the bridge made, by a request summary."""
    return sum(
        int(c["count"])
        for c in summary.get("counts", [])
        if not any(p in str(c.get("path", "")) for p in NOT_BRIDGE_PATHS)
    )


def faulted_share(result: RunResult, side: str) -> tuple[int, int]:
    """(bridge API requests answered by a fault, bridge API requests) while faults were on."""
    injected = result.injected.get(side, {})
    request_faults = sum(int(injected.get(k, 0)) for k in ("error", "rate_limit", "hang"))
    faulted = request_faults + int(injected.get("commit_then_fail", 0))
    on, off = result.requests_on.get(side, {}), result.requests_off.get(side, {})
    return faulted, bridge_requests(off) - bridge_requests(on)


def run_rows(runs: list[RunRecord]) -> list[tuple[str, int, str, float]]:
    """Per deployment: how many runs, their end states, mean wall seconds."""
    by: dict[str, list[RunRecord]] = {}
    for r in runs:
        by.setdefault(r.deployment, []).append(r)
    rows = []
    for name, rs in sorted(by.items()):
        states = Counter(r.state for r in rs)
        text = ", ".join(f"{s.lower()} {n}" for s, n in sorted(states.items()))
        rows.append((name, len(rs), text, round(sum(r.wall_s for r in rs) / len(rs), 1)))
    return rows


def _phases_table(result: RunResult) -> Table:
    phases = result.meter.phases if result.meter else []
    roles = sorted({role for p in phases for role in p.cpu_s})
    table = Table(title=f"Phases (wall {result.wall_s:.0f}s)", title_justify="left")
    table.add_column("phase")
    table.add_column("wall s", justify="right")
    for role in roles:
        table.add_column(f"cpu {role}", justify="right")
    for p in phases:
        table.add_row(p.name, f"{p.wall_s:.1f}", *(f"{p.cpu_s.get(r, 0):.1f}" for r in roles))
    return table


def _faults_table(result: RunResult) -> Table:
    table = Table(title="Faults injected (GET /_admin/faults before turning them off)")
    table.title_justify = "left"
    for column in ("sandbox", "fault", "count"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for side, kind, n in fault_rows(result):
        table.add_row(side, kind, str(n))
    for side in ("returnly", "ams"):
        faulted, total = faulted_share(result, side)
        share = f"{100 * faulted / total:.1f}%" if total else "?"
        table.add_row(side, "bridge API requests faulted / all", f"{faulted}/{total} {share}")
    return table


def _kills_table(result: RunResult) -> Table:
    table = Table(title="Kills and recoveries", title_justify="left")
    for column in ("at s", "role", "action", "pid", "healthy after s", "note"):
        table.add_column(column)
    for e in result.events:
        if e.action != "stop":
            healthy = "" if e.healthy_after_s is None else f"{e.healthy_after_s:.1f}"
            table.add_row(f"{e.at:.1f}", e.role, e.action, str(e.pid), healthy, e.note)
    return table


def _runs_table(result: RunResult) -> Table:
    table = Table(title="Deployment runs (run_deployment)", title_justify="left")
    for column in ("deployment", "runs", "states", "mean wall s"):
        table.add_column(column)
    for name, n, states, mean in run_rows(result.runs):
        table.add_row(name, str(n), states, f"{mean:.1f}")
    return table


def _invariants_table(result: RunResult) -> Table:
    table = Table(title="Invariants (from the sandboxes' own records)", title_justify="left")
    for column in ("#", "invariant", "checked", "violations", "first examples"):
        table.add_column(column)
    for n, inv in enumerate(result.invariants, 1):
        style = "green" if inv.ok else "bold red"
        table.add_row(
            str(n),
            inv.title,
            str(inv.checked),
            f"[{style}]{inv.violations}[/]",
            "; ".join(inv.examples[:3]),
        )
    return table


def print_report(result: RunResult, console: Console) -> None:
    """Every table, then the verdict."""
    console.print()
    for table in (_phases_table(result), _faults_table(result), _kills_table(result)):
        console.print(table)
    console.print(_runs_table(result))
    if result.plan is not None:
        console.print(f"plan: {result.plan.slot_counts()}")
    if result.world is not None:
        console.print(f"warehouse events: {result.world.events}")
    for key, m in milestones(result.timeline).items():
        console.print(f"faulted phase, {key}: {m}")
    console.print(f"outcomes (sandboxes' records): {result.outcomes}")
    console.print(f"drift (reconcile-now): {result.drift_counts.get('by_kind', {})}")
    console.print(f"inbox when the task worker was stopped: {result.inbox_at_freeze}")
    console.print(_invariants_table(result))
    if result.secrets_sweep:
        searched = result.secrets_sweep.get("searched", {})
        found = len(result.secrets_sweep.get("hits", []))
        console.print(f"secrets sweep: {found} hits in {sum(searched.values())} records {searched}")
    for note in result.liveness_restarts:
        console.print(f"[yellow]NOTE:[/] did not recover by itself, restarted: {note}")
    for problem in result.problems:
        console.print(f"[bold red]PROBLEM:[/] {problem}")
    verdict = "[green]all invariants hold[/]" if result.ok else "[bold red]FAILED[/]"
    console.print(f"chaos run: {verdict} ({result.violations} violations, {result.wall_s:.0f}s)")


def as_dict(result: RunResult) -> dict[str, Any]:
    """The summary JSON."""
    phases = result.meter.phases if result.meter else []
    return {
        "ok": result.ok,
        "violations": result.violations,
        "problems": result.problems,
        "options": {k: str(v) for k, v in dataclasses.asdict(result.options).items()},
        "wall_s": result.wall_s,
        "phases": [
            {"name": p.name, "start_s": p.start_s, "wall_s": p.wall_s, "cpu_s": p.cpu_s}
            for p in phases
        ],
        "cpu_total_s": result.cpu_total,
        "fault_configs": result.fault_configs,
        "injected": result.injected,
        "requests_total": {s: _requests_total(result.requests.get(s, {})) for s in result.requests},
        "faulted_share": {s: faulted_share(result, s) for s in ("returnly", "ams")},
        "kill_plan": result.kill_plan,
        "events": [dataclasses.asdict(e) for e in result.events],
        "kills": Counter(e.role for e in result.events if e.action == "kill"),
        "recoveries": Counter(e.role for e in result.events if e.action == "restart"),
        "liveness_restarts": result.liveness_restarts,
        "crashed_runs": result.crashed_runs,
        "runs": [r.as_dict() for r in result.runs],
        "timed_out": result.timed_out,
        "settle_rounds": result.settle_rounds,
        "quiet": result.quiet,
        "inbox_at_freeze": result.inbox_at_freeze,
        "reconcile_state": result.reconcile_state,
        "drift_counts": result.drift_counts,
        "plan": result.plan.slot_counts() if result.plan else {},
        "world": dataclasses.asdict(result.world) if result.world else {},
        "outcomes": result.outcomes,
        "ledger_counts": result.ledger_counts,
        "invariants": [i.as_dict() for i in result.invariants],
        "milestones": milestones(result.timeline),
        "timeline": result.timeline,
        "export_files": result.export_files,
        "secrets_sweep": result.secrets_sweep,
    }


def write_summary(path: Path, result: RunResult) -> None:
    """Write the summary JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(as_dict(result), indent=2, default=str), encoding="utf-8")
