"""Webhook -> AMS RMA visible latency, one return at a time: p50 and p95 over N returns.

Runs the real local stack (Prefect server on SQLite, sandboxes, webhook receiver, task worker).
For each return: authorize it in the Returnly sandbox (which sends the signed webhook), then
wait until the AMS sandbox holds its RMA (watched through ``/_admin/export``, which is not an
API request, so the request log holds only the bridge's). Returns are authorized one at a
time, ``--gap`` seconds apart, like a steady trickle of customers. Prints requests per return
per system (sandbox request logs) next to the minimum; ``--against DIR`` runs the same with
another checkout's code, alternating rounds, so before and after come from one run.

    .venv/bin/python -P bench/webhook_latency.py [--returns 100] [--gap 0.3] [--against DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import requestcounts as rc


def _visible(client: httpx.Client, cid: str) -> bool:
    rmas = client.get("/_admin/export").json()["rmas"]
    return any(r.get("customer_identifier") == cid and r.get("status") != "deleted" for r in rmas)


def one_round(returns: int, gap: float, dispatch: str, workdir: Path) -> dict[str, Any]:
    """One round on a fresh stack in this process."""
    from deployments.local_stack import local_stack

    with local_stack(workdir, dispatch=dispatch) as stack:
        from core.mapping import customer_identifier_for
        from deployments import scenario
        from runtime import ams_client, load_merchant, returnly_client

        merchant = load_merchant(stack.merchant)
        returnly, ams = returnly_client(merchant), ams_client(merchant)
        scenario.subscribe(merchant, stack.receiver_url, returnly, ams)
        tap = rc.Tap({"ams": stack.ams_url, "returnly": stack.returnly_url})
        latencies: list[float] = []
        with (
            httpx.Client(base_url=stack.returnly_url, timeout=30) as admin,
            httpx.Client(base_url=stack.ams_url, timeout=30) as watch,
        ):
            for n in range(3 + returns):  # 3 warm-ups: imports and connections in the worker
                if n == 3:
                    tap.begin("intake")
                rid = admin.post("/_admin/returns", json={"status": "requested"}).json()["id"]
                cid = customer_identifier_for(rid)
                t0 = time.perf_counter()
                admin.post(f"/_admin/returns/{rid}/status", json={"status": "authorize"})
                while not _visible(watch, cid):
                    if time.perf_counter() - t0 > 60:
                        raise SystemExit(f"return {rid}: no RMA after 60 s")
                    time.sleep(0.01)
                if n >= 3:
                    latencies.append(time.perf_counter() - t0)
                time.sleep(gap)
        tap.end()
        counts = tap.counts()
    return {
        "p50_s": statistics.median(latencies),
        "p95_s": rc.percentile(latencies, 0.95),
        "max_s": max(latencies),
        "counts": counts,
        "per_return": rc.per_return(counts, returns),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--returns", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.3)
    parser.add_argument("--dispatch", default="task", choices=["task", "event", "both"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--against", type=Path, help="the 'before' checkout (with its .venv)")
    parser.add_argument("--workdir", type=Path, default=Path("var/bench-latency"))
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        got = one_round(args.returns, args.gap, args.dispatch, args.workdir)
        print("RESULT " + json.dumps(got), flush=True)
        return
    sides: dict[str, Path | None] = {"after": None}
    if args.against:
        sides = {"before": args.against.resolve(), "after": None}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    for r in range(args.rounds):
        for name in list(sides) if r % 2 == 0 else list(reversed(sides)):
            workdir = (Path.cwd() / args.workdir / f"{name}-r{r}").resolve()
            cmd = ["--one", "--returns", str(args.returns), "--gap", str(args.gap)]
            cmd += ["--dispatch", args.dispatch, "--workdir", str(workdir)]
            got = rc.run_side(sides[name], Path(__file__).resolve(), cmd)
            results[name].append(got)
            print(
                f"round {r + 1} {name}: p50 {got['p50_s']:.3f} p95 {got['p95_s']:.3f}", flush=True
            )
    load = os.getloadavg()
    print(
        f"webhook -> RMA visible, one at a time, {args.returns} returns, dispatch={args.dispatch}, "
        f"medians of {args.rounds} round(s); load average now {load[0]:.1f} {load[1]:.1f}"
    )
    for name, runs in results.items():
        p50 = statistics.median(x["p50_s"] for x in runs)
        p95 = statistics.median(x["p95_s"] for x in runs)
        worst = max(x["max_s"] for x in runs)
        print(
            f"  {name:<8} p50 {p50:.3f} s   p95 {p95:.3f} s   max {worst:.3f} s"
            "   target p95 <= 0.5 s"
        )
    per = {n: rc.median_nested([x["per_return"] for x in runs]) for n, runs in results.items()}
    rc.print_counts("one at a time", per, {"intake": rc.webhook_minimum(1, 0)["intake"]})


if __name__ == "__main__":
    main()
