"""Webhook-driven lifecycle on the real local stack: latency, throughput and requests per return.

Each round is a fresh stack (Prefect server on SQLite, sandboxes, webhook receiver, task
worker) in its own process. A round:

1. **intake**: plant N returns as requested, authorize them at ``--rate`` per second (each
   sends a signed webhook; ``--rate 0``: as fast as the sandbox admin API takes it) and wait
   until AMS shows every RMA. Webhook -> RMA visible per return is the RMA's ``created_at``
   in the AMS sandbox minus the moment its webhook was triggered (read from
   ``/_admin/export`` afterwards, so the bench sends no API request of its own).
2. **arrival+completion** (``--lifecycle``): the warehouse receives every RMA in full
   (DataFactory, batches of 30; each sends an rmaEvent callback) and the round waits until
   the ledger shows every return refunded.

Requests per return per system and stage come from the sandboxes' request logs, next to the
minimum for the same work. ``--against DIR`` runs the same rounds with another checkout's
code (its own ``.venv``), alternating, so before and after come from one run.

    .venv/bin/python -P bench/webhook_burst.py --returns 200 --rate 10 --lifecycle \\
        --rounds 3 --against /work/wt-base
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import requestcounts as rc

DONE_STAGES = {"refunded", "partially_refunded", "held"}


def _export(url: str) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=60) as admin:
        body: dict[str, Any] = admin.get("/_admin/export").json()
    return body


def _live_created(ams_url: str) -> dict[str, float]:
    """customer_identifier -> created_at (unix s) of every live RMA."""
    out: dict[str, float] = {}
    for rec in _export(ams_url)["rmas"]:
        if rec.get("status") != "deleted" and rec.get("customer_identifier"):
            out[rec["customer_identifier"]] = datetime.fromisoformat(rec["created_at"]).timestamp()
    return out


def _sweep_every(last: float, period_s: float = 5.0) -> tuple[float, int]:
    """The sweep-inbox deployment's job (a hand-over the Prefect server refused, e.g. SQLite
    "database is locked"), done here every ``period_s`` for both sides alike."""
    if time.perf_counter() - last < period_s:
        return last, 0
    try:
        from tasks.sweep import sweep_once
    except ImportError:  # a baseline checkout from before the stages room (--against)
        from flows.sweep_inbox import sweep_once  # type: ignore[no-redef]

    return time.perf_counter(), sweep_once(older_than_seconds=5, limit=500).dispatched


def one_round(returns: int, rate: float, lifecycle: bool, workdir: Path) -> dict[str, Any]:
    """One round on a fresh stack in this process."""
    from deployments.local_stack import local_stack

    with local_stack(workdir) as stack:
        from core.mapping import customer_identifier_for
        from deployments import scenario
        from runtime import ams_client, get_ledger, load_merchant, returnly_client

        merchant = load_merchant(stack.merchant)
        returnly, ams = returnly_client(merchant), ams_client(merchant)
        scenario.subscribe(merchant, stack.receiver_url, returnly, ams)
        tap = rc.Tap({"ams": stack.ams_url, "returnly": stack.returnly_url})
        with httpx.Client(base_url=stack.returnly_url, timeout=30) as admin:
            warm = admin.post("/_admin/returns", json={"status": "requested"}).json()["id"]
            admin.post(f"/_admin/returns/{warm}/status", json={"status": "authorize"})
            while customer_identifier_for(warm) not in _live_created(stack.ams_url):
                time.sleep(0.05)
            ids = [
                admin.post("/_admin/returns", json={"status": "requested"}).json()["id"]
                for _ in range(returns)
            ]
            time.sleep(1.0)  # let the warm-up's callbacks and artifacts settle
            tap.begin("intake")
            sent: dict[str, float] = {}
            t0 = time.perf_counter()
            for n, rid in enumerate(ids):
                if rate > 0:
                    time.sleep(max(0.0, t0 + n / rate - time.perf_counter()))
                sent[customer_identifier_for(rid)] = time.time()
                admin.post(f"/_admin/returns/{rid}/status", json={"status": "authorize"})
        sent_s = time.perf_counter() - t0
        swept, last = 0, time.perf_counter()
        while True:
            created = _live_created(stack.ams_url)
            if set(sent) <= set(created):
                break
            if time.perf_counter() - t0 > 900:
                raise SystemExit(f"{len(set(sent) - set(created))} RMAs missing after 900 s")
            last, n_swept = _sweep_every(last)
            swept += n_swept
            time.sleep(0.25)
        tap.end()
        latencies = [created[cid] - at for cid, at in sent.items()]
        first, done_at = min(sent.values()), max(created[cid] for cid in sent)
        result: dict[str, Any] = {
            "sent_s": sent_s,
            "intake_wall_s": done_at - first,
            "returns_per_s": returns / (done_at - first),
            "p50_s": statistics.median(latencies),
            "p95_s": rc.percentile(latencies, 0.95),
            "max_s": max(latencies),
            "swept": swept,
        }
        refunded = 0
        if lifecycle:
            time.sleep(1.0)
            tap.begin("arrival+completion")
            t1 = time.perf_counter()
            cids = sorted(sent)
            from core.settings import SANDBOX_ACCOUNT, SANDBOX_AMS_TOKEN

            api = f"{stack.ams_url}/{SANDBOX_ACCOUNT}/api/v1/data_factory/rmaEvent"
            auth = {"Authorization": f"Bearer {SANDBOX_AMS_TOKEN}"}
            with httpx.Client(timeout=120, headers=auth) as warehouse:
                for i in range(0, len(cids), 30):
                    body = [
                        {"customer_identifier": c, "event": "receiveFull"} for c in cids[i : i + 30]
                    ]
                    warehouse.post(api, json=body).raise_for_status()
            ledger = get_ledger()
            while True:
                links = ledger.links_for(merchant.name, return_ids=ids)
                done = [lk for lk in links if lk.stage in DONE_STAGES]
                if len(done) == len(ids):
                    break
                if time.perf_counter() - t1 > 900:
                    raise SystemExit(f"{len(ids) - len(done)} returns not completed after 900 s")
                last, n_swept = _sweep_every(last)
                swept += n_swept
                time.sleep(0.25)
            tap.end()
            refunded = sum(lk.stage == "refunded" for lk in links)
            result["completion_wall_s"] = time.perf_counter() - t1
            result["swept"] = swept
        counts = tap.counts()
    result["refunded"] = refunded
    result["counts"] = counts
    result["per_return"] = rc.per_return(counts, returns)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--returns", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="webhooks per second; 0: max")
    parser.add_argument("--lifecycle", action="store_true", help="also receive and refund")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--against", type=Path, help="the 'before' checkout (with its .venv)")
    parser.add_argument("--workdir", type=Path, default=Path("var/bench-burst"))
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # one round in this process (Prefect settings are per process)
        got = one_round(args.returns, args.rate, args.lifecycle, args.workdir)
        print("RESULT " + __import__("json").dumps(got), flush=True)
        return
    sides: dict[str, Path | None] = {"after": None}
    if args.against:
        sides = {"before": args.against.resolve(), "after": None}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    script = Path(__file__).resolve()
    for r in range(args.rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for name in order:
            workdir = (Path.cwd() / args.workdir / f"{name}-r{r}").resolve()
            cmd = ["--one", "--returns", str(args.returns), "--rate", str(args.rate)]
            cmd += ["--workdir", str(workdir)]
            if args.lifecycle:
                cmd.append("--lifecycle")
            got = rc.run_side(sides[name], script, cmd)
            results[name].append(got)
            brief = {k: round(v, 3) for k, v in got.items() if isinstance(v, float)}
            print(f"round {r + 1} {name}: {brief} per return {got['per_return']}", flush=True)
    load = os.getloadavg()
    print(
        f"\n{args.returns} return.authorized webhooks at "
        f"{'max' if not args.rate else args.rate} /s, {args.rounds} round(s), medians; "
        f"load average now {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    keys = ["p50_s", "p95_s", "max_s", "intake_wall_s", "returns_per_s", "swept"]
    if args.lifecycle:
        keys.append("completion_wall_s")
    print(f"{'':<22}" + "".join(f"{n:>12}" for n in results))
    for key in keys:
        vals = [statistics.median(x[key] for x in results[n]) for n in results]
        print(f"{key:<22}" + "".join(f"{v:>12.3f}" for v in vals))
    refunded = int(statistics.median(x["refunded"] for x in results["after"]))
    minimum = rc.webhook_minimum(args.returns, refunded)
    if not args.lifecycle:
        minimum = {"intake": minimum["intake"]}
    per = {n: rc.median_nested([x["per_return"] for x in results[n]]) for n in results}
    rc.print_counts("webhook path", per, minimum)
    for name in results:
        print(f"  {name} calls (last round): {results[name][-1]['counts']}")


if __name__ == "__main__":
    main()
