"""A burst of Return-authorized webhooks: time until every RMA exists, and AMS calls per return.

Runs the real local stack (Prefect server on SQLite, sandboxes, webhook receiver, task
worker) twice, side by side in one run: the receiver dispatching in batches (the default,
up to 30 messages per task run) and one task run per message (``batch_max=1``, what the
bridge did before). For each round: plant N returns as requested, authorize them all as
fast as the sandbox admin API takes it (each sends a signed webhook), then wait until AMS
shows every RMA. AMS requests are counted from the AMS sandbox's own request log.

    .venv/bin/python bench/webhook_burst.py [--returns 200] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def _ams_requests(ams_url: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=ams_url, timeout=60) as admin:
        body = admin.get("/_admin/requests", params={"since": 0, "limit": 1_000_000}).json()
    return list(body["requests"] if isinstance(body, dict) else body)


def burst(returns: int, batch_max: int, workdir: Path) -> dict[str, float]:
    """One round on a fresh stack; returns wall time and AMS requests per return."""
    os.environ["BRIDGE_WEBHOOKS_BATCH_MAX"] = str(batch_max)
    from deployments.local_stack import local_stack

    with local_stack(workdir) as stack:
        from core.mapping import customer_identifier_for
        from deployments import scenario
        from runtime import ams_client, load_merchant, returnly_client

        merchant = load_merchant(stack.merchant)
        returnly, ams = returnly_client(merchant), ams_client(merchant)
        scenario.subscribe(merchant, stack.receiver_url, returnly, ams)
        with httpx.Client(base_url=stack.returnly_url, timeout=30) as admin:
            warm = admin.post("/_admin/returns", json={"status": "requested"}).json()["id"]
            admin.post(f"/_admin/returns/{warm}/status", json={"status": "authorize"})
            while ams.get_rma_by_cid(customer_identifier_for(warm)) is None:
                time.sleep(0.05)
            ids = [
                admin.post("/_admin/returns", json={"status": "requested"}).json()["id"]
                for _ in range(returns)
            ]
            before = len(_ams_requests(stack.ams_url))
            started = time.perf_counter()
            for rid in ids:
                admin.post(f"/_admin/returns/{rid}/status", json={"status": "authorize"})
        sent_s = time.perf_counter() - started
        wanted = {customer_identifier_for(rid) for rid in ids}
        swept = 0
        last_sweep = time.perf_counter()
        while True:
            have = {r.customer_identifier for r in ams.iter_rmas() if not r.is_deleted}
            if wanted <= have:
                break
            if time.perf_counter() - started > 900:
                raise SystemExit(f"{len(wanted - have)} RMAs missing after 900 s")
            if time.perf_counter() - last_sweep > 5:
                # The sweep-inbox deployment's job (a hand-over the Prefect server refused,
                # e.g. SQLite "database is locked"), done here every 5 s for both sides alike.
                from flows.sweep_inbox import sweep_once

                swept += sweep_once(older_than_seconds=5, limit=500).dispatched
                last_sweep = time.perf_counter()
            time.sleep(0.2)
        wall = time.perf_counter() - started
        # Only POSTs: this script's own polling is GET /rmas too.
        posts = sum(
            1
            for r in _ams_requests(stack.ams_url)[before:]
            if r["method"] == "POST" and r["path"].endswith("/rmas")
        )
    return {
        "wall_s": wall,
        "sent_s": sent_s,
        "posts_per_return": posts / returns,
        "swept": float(swept),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--returns", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("var/bench-burst"))
    parser.add_argument("--one", type=int, metavar="BATCH_MAX", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:  # one round in this process (Prefect settings are per process)
        got = burst(args.returns, args.one, args.workdir)
        print("RESULT " + json.dumps(got), flush=True)
        return
    results: dict[int, list[dict[str, float]]] = {30: [], 1: []}
    for r in range(args.rounds):
        for batch_max in (30, 1) if r % 2 == 0 else (1, 30):
            workdir = args.workdir / f"b{batch_max}-r{r}"
            cmd = [sys.executable, __file__, "--returns", str(args.returns)]
            cmd += ["--workdir", str(workdir), "--one", str(batch_max)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            got = json.loads(out.rsplit("RESULT ", 1)[1])
            results[batch_max].append(got)
            print(f"round {r + 1} batch_max={batch_max}: {got}", flush=True)
    print(f"\nburst of {args.returns} return.authorized webhooks, {args.rounds} round(s), medians:")
    for batch_max, label in ((30, "batched (now)"), (1, "one run per message (before)")):
        wall = statistics.median(x["wall_s"] for x in results[batch_max])
        posts = statistics.median(x["posts_per_return"] for x in results[batch_max])
        rate = args.returns / wall
        print(
            f"  {label:30s} all RMAs after {wall:6.1f} s = {rate:5.1f} returns/s; "
            f"AMS POST /rmas per return {posts:.3f}"
        )
    ratio = statistics.median(x["wall_s"] for x in results[1]) / statistics.median(
        x["wall_s"] for x in results[30]
    )
    print(f"  speed-up (before / now): {ratio:.1f}x")


if __name__ == "__main__":
    main()
