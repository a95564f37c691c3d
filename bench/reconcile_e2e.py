"""End-to-end reconciliation time for N returns fetched through the sandboxes over HTTP.

Each sandbox runs in its own subprocess (as it would on a network: the client process does
only the client's work). Returnly is seeded through ``POST /_admin/seed``; the same generator
is replayed here to know every return's lines, and AMS gets one RMA per return (most open,
some in transit or received, a few missing) plus a few orphans, planted in bulk through
``POST /_admin/rmas?echo=false``. The ledger (a temporary SQLite file) holds one link per RMA.
Then the timed part: fetch both sides (concurrently, paged), build the three frames, classify.

    .venv/bin/python -P bench/reconcile_e2e.py                   # 50,000 returns
    .venv/bin/python -P bench/reconcile_e2e.py --returns 5000 --runs 3 --sequential
    .venv/bin/python -P bench/reconcile_e2e.py --latency-ms 20 --sequential   # a slower network
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from clients.ams import AmsClient
from clients.returnly import ReturnlyClient
from core.drift import summarize
from core.mapping import customer_identifier_for
from core.merchant import MerchantConfig
from core.settings import (
    SANDBOX_ACCOUNT,
    SANDBOX_AMS_TOKEN,
    SANDBOX_CALLBACK_TOKEN,
    SANDBOX_RETURNLY_TOKEN,
    SANDBOX_WEBHOOK_SECRET,
)
from ledger import Link, open_ledger
from sandbox.returnly.seed import generate
from stages.reconcile import Window, build_frames, detect_drift, fetch_sides

REPO = Path(__file__).resolve().parents[1]
SERVE = """
import sys
from sandbox.server import ThreadedServer
from sandbox.{system}.app import create_app
server = ThreadedServer(create_app()).start()
print(server.url, flush=True)
sys.stdin.read()
server.stop()
"""
PLANT_CHUNK = 5000
STATUS_MIX = (("open", 0.72), ("inTransit", 0.10), ("received", 0.15), (None, 0.03))
ORPHAN_SHARE = 0.02


@contextmanager
def sandbox(system: str) -> Iterator[str]:
    """One sandbox in a subprocess; yields its URL and stops it (by its own pid) afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-P", "-c", SERVE.format(system=system)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"{system} sandbox did not start")
        yield url
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _rma(cid: str | None, spec: Any, status: str, created: datetime) -> dict[str, Any]:
    lines = []
    for line in spec.lines:
        qty = int(line.units)
        item: dict[str, Any] = {
            "customer_sku_id": line.sku or "NO-SKU",
            "quantity": qty,
            "return_reason_code": "tooBig",
            "return_inventory_status": "qc",
        }
        if status == "received":
            item["quantity_received"] = qty
            item["receiving_details"] = {"available": [{"quantity": qty, "notes": "ok"}]}
        lines.append(item)
    stamp = created.isoformat()
    rec: dict[str, Any] = {
        "customer_identifier": cid,
        "status": status,
        "created_at": stamp,
        "updated_at": stamp,
        "line_items": lines,
    }
    if status == "received":
        rec["received_at"] = stamp
    return rec


def seed(returnly_url: str, ams_url: str, ledger_url: str, n: int, seed_no: int) -> dict[str, int]:
    """Seed Returnly, plant matching RMAs and ledger links; answers what was planted."""
    with httpx.Client(base_url=returnly_url, timeout=600) as admin:
        first = int(
            admin.post("/_admin/seed", json={"count": n, "seed": seed_no}).json()["first_id"]
        )
    rng = random.Random(seed_no + 1)
    now = datetime.now(UTC)
    rmas: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    statuses = [s for s, _ in STATUS_MIX]
    weights = [w for _, w in STATUS_MIX]
    specs = list(generate(n, seed_no, now=now))
    for i, spec in enumerate(specs):
        rid = str(first + i)
        status = rng.choices(statuses, weights)[0]
        created = (spec.created_at or now) + timedelta(minutes=5)
        if status is None:
            continue
        cid = customer_identifier_for(rid)
        rmas.append(_rma(cid, spec, status, created))
        stage = {"open": "rma_created", "inTransit": "in_transit", "received": "received"}[status]
        links.append(
            {
                "merchant": SANDBOX_ACCOUNT,
                "return_id": rid,
                "customer_identifier": cid,
                "stage": stage,
                "status": status,
                "created_at": now,
                "updated_at": now,
            }
        )
    for j in range(int(n * ORPHAN_SHARE)):
        rmas.append(_rma(f"RLY-9{j:07d}", specs[j % len(specs)], "open", now - timedelta(days=1)))
    with httpx.Client(base_url=ams_url, timeout=600) as admin:
        for start in range(0, len(rmas), PLANT_CHUNK):
            reply = admin.post("/_admin/rmas?echo=false", json=rmas[start : start + PLANT_CHUNK])
            reply.raise_for_status()
    with open_ledger(ledger_url) as led, led.engine.begin() as conn:
        conn.execute(insert(Link), links)
    return {"returns": n, "rmas": len(rmas), "links": len(links)}


def merchant_for(returnly_url: str, ams_url: str) -> MerchantConfig:
    """The sandbox merchant with the default policy (only ``available`` refunded)."""
    return MerchantConfig(
        name=SANDBOX_ACCOUNT,
        returnly_base_url=returnly_url,
        returnly_api_token=SANDBOX_RETURNLY_TOKEN,
        returnly_webhook_secret=SANDBOX_WEBHOOK_SECRET,
        ams_base_url=ams_url,
        ams_account=SANDBOX_ACCOUNT,
        ams_api_token=SANDBOX_AMS_TOKEN,
        ams_callback_token=SANDBOX_CALLBACK_TOKEN,
    )


def run_once(
    merchant: MerchantConfig, ledger_url: str, workers: int, slices: int
) -> dict[str, float]:
    """One timed reconciliation: fetch, frames, classify."""
    with (
        ReturnlyClient(
            base_url=merchant.returnly_base_url,
            api_token=merchant.returnly_api_token,
            page_size=100,
        ) as returnly,
        AmsClient(
            base_url=merchant.ams_base_url,
            account=merchant.ams_account,
            api_token=merchant.ams_api_token,
        ) as ams,
        open_ledger(ledger_url) as led,
    ):
        window = Window(now=datetime.now(UTC), days=90)
        started = time.perf_counter()
        sides = fetch_sides(
            merchant,
            window,
            returnly=returnly,
            ams=ams,
            ledger=led,
            workers=workers,
            ams_slices=slices,
        )
        frames = build_frames(merchant, sides, led)
        mid = time.perf_counter()
        drift = detect_drift(merchant, frames, window)
        done = time.perf_counter()
    counts = summarize(drift)["total"]
    return {
        "total_s": done - started,
        "fetch_s": sides.timings.wall_s,
        "fetch_returnly_s": sides.timings.returnly_s,
        "fetch_ams_s": sides.timings.ams_s,
        "fetch_by_id_s": sides.timings.closure_s,
        "frames_s": frames.build_s,
        "classify_s": done - mid,
        "returns": float(sides.returns.rows.entities),
        "rmas": float(sides.rmas.rows.entities),
        "returnly_lines": float(len(frames.returnly)),
        "ams_lines": float(len(frames.ams)),
        "drift_rows": float(len(drift)),
        **{f"kind:{k}": float(v) for k, v in counts.items() if v},
    }


def _report(label: str, runs: list[dict[str, float]]) -> None:
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"\n== {label} (median of {len(runs)} run(s)) ==")
    print(f"end to end            {med['total_s']:8.2f} s")
    print(f"  fetch, both sides   {med['fetch_s']:8.2f} s  (listing passes finish at:)")
    print(f"    Returnly side     {med['fetch_returnly_s']:8.2f} s  ({med['returns']:.0f} returns)")
    print(f"    AMS side          {med['fetch_ams_s']:8.2f} s  ({med['rmas']:.0f} RMAs)")
    print(f"    by-id closure   + {med['fetch_by_id_s']:8.2f} s")
    print(
        f"  build frames        {med['frames_s']:8.2f} s  "
        f"({med['returnly_lines']:.0f} + {med['ams_lines']:.0f} lines)"
    )
    print(f"  classify            {med['classify_s']:8.2f} s  ({med['drift_rows']:.0f} drift rows)")
    kinds = {k[5:]: int(v) for k, v in med.items() if k.startswith("kind:")}
    print("  drift by kind:", ", ".join(f"{k} {v}" for k, v in kinds.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--returns", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--ams-slices", type=int, default=4)
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        help="added latency per API request (sandbox fault), as over a real network",
    )
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="also time one worker and one AMS slice, for comparison",
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="reconcile-e2e-") as tmp,
        sandbox("returnly") as returnly_url,
        sandbox("ams") as ams_url,
    ):
        ledger_url = f"sqlite:///{Path(tmp) / 'ledger.db'}"
        merchant = merchant_for(returnly_url, ams_url)
        t = time.perf_counter()
        planted = seed(returnly_url, ams_url, ledger_url, args.returns, args.seed)
        print(f"seeded {planted} in {time.perf_counter() - t:.1f} s (not timed below)")
        if args.latency_ms:
            for url in (returnly_url, ams_url):
                httpx.put(
                    f"{url}/_admin/faults", json={"latency_ms": args.latency_ms}
                ).raise_for_status()
            print(f"every API request now takes {args.latency_ms} ms longer")
        runs = [
            run_once(merchant, ledger_url, args.workers, args.ams_slices) for _ in range(args.runs)
        ]
        _report(f"concurrent: {args.workers} workers, {args.ams_slices} AMS slices", runs)
        if args.sequential:
            _report(
                "sequential: 1 worker, 1 AMS slice",
                [run_once(merchant, ledger_url, 1, 1) for _ in range(args.runs)],
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nclient process peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
