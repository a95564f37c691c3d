"""Webhook -> AMS RMA visible latency, p50 and p95 over N returns (default 100).

Runs the real local stack (Prefect server on SQLite, sandboxes, webhook receiver, task worker).
For each return: authorize it in the Returnly sandbox (which sends the signed webhook), then
poll AMS by customer_identifier until the RMA exists. Returns are authorized one at a time,
``--gap`` seconds apart, like a steady trickle of customers.

    .venv/bin/python bench/webhook_latency.py [--returns 100] [--gap 0.3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import httpx


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--returns", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.3)
    parser.add_argument("--dispatch", default="task", choices=["task", "event", "both"])
    parser.add_argument("--workdir", type=Path, default=Path("var/bench-latency"))
    args = parser.parse_args()

    from deployments.local_stack import local_stack

    with local_stack(args.workdir, dispatch=args.dispatch) as stack:
        from core.mapping import customer_identifier_for
        from deployments import scenario
        from runtime import ams_client, load_merchant, returnly_client

        merchant = load_merchant(stack.merchant)
        returnly, ams = returnly_client(merchant), ams_client(merchant)
        scenario.subscribe(merchant, stack.receiver_url, returnly, ams)
        latencies: list[float] = []
        with httpx.Client(base_url=stack.returnly_url, timeout=30) as admin:
            for _ in range(3):  # warm-up: imports and connections in the worker
                rid = admin.post("/_admin/returns", json={"status": "requested"}).json()["id"]
                admin.post(f"/_admin/returns/{rid}/status", json={"status": "authorize"})
                cid = customer_identifier_for(rid)
                while ams.get_rma_by_cid(cid) is None:
                    time.sleep(0.02)
            for _ in range(args.returns):
                rid = admin.post("/_admin/returns", json={"status": "requested"}).json()["id"]
                cid = customer_identifier_for(rid)
                t0 = time.perf_counter()
                admin.post(f"/_admin/returns/{rid}/status", json={"status": "authorize"})
                while ams.get_rma_by_cid(cid) is None:
                    if time.perf_counter() - t0 > 60:
                        raise SystemExit(f"return {rid}: no RMA after 60 s")
                    time.sleep(0.01)
                latencies.append(time.perf_counter() - t0)
                time.sleep(args.gap)
    p50 = statistics.median(latencies)
    p95 = percentile(latencies, 0.95)
    print(f"webhook -> RMA visible over {len(latencies)} returns (dispatch={args.dispatch}):")
    print(f"  p50 {p50:.3f} s   p95 {p95:.3f} s   max {max(latencies):.3f} s   target p95 <= 1.5 s")


if __name__ == "__main__":
    main()
