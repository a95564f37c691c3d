"""5,000 returns through all three stages: the bridge (Prefect flows) vs plain asyncio + httpx.

Both runs start from the same seeded sandboxes (one separate process, so neither side pays for
serving) and make the same API calls at the same concurrency:

  intake      list returns (pages of 100, with includes), map, POST /rmas in batches of 30
  warehouse   DataFactory receiveFull for every RMA (NOT timed; callbacks held)
  arrival     list the RMAs created since intake (ids), GET /rmas?id= in batches of 30
  completion  list the Returnly returns again from the oldest updated_at intake saw (the
              re-read, as the bridge batches it), then per return POST the refund

The bridge additionally keeps its ledger (SQLite), runs Prefect tasks against a local Prefect
server (SQLite) and publishes artifacts: that overhead is what the ratio measures.

    .venv/bin/python -P bench/lifecycle_throughput.py [--returns 5000] [--repeat 3]

Rounds alternate the two sides on the same sandboxes and Prefect server (a fresh ledger each
round); the figures printed are medians, and the ratio is bridge / baseline. Requests per
return per system and stage (the poll path) come from the sandboxes' request logs, next to
the minimum for the same work. ``--against DIR`` runs the whole comparison also with another
checkout's code (its own ``.venv``), alternating rounds, so before and after share one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import requestcounts as rc

from clients.returnly import format_timestamp, parse_returns_document
from core.mapping import map_return_to_rma
from core.merchant import merchant_from_settings
from core.settings import SANDBOX_ACCOUNT, SANDBOX_AMS_TOKEN, SANDBOX_RETURNLY_TOKEN
from deployments.prefect_server import local_prefect_server, prefect_env, spawn, stop_process
from sandbox.server import free_port

RH = {"X-Api-Token": SANDBOX_RETURNLY_TOKEN, "X-Api-Version": "2020-08"}
AH = {"Authorization": f"Bearer {SANDBOX_AMS_TOKEN}"}
INCLUDE = "return_line_items,shipping_labels,refunds"


def prepare(returnly: str, ams: str, count: int, seed: int) -> None:
    """Empty both sandboxes, seed returns, register a held rmaEvent callback."""
    with httpx.Client(timeout=120) as c:
        c.post(f"{returnly}/_admin/reset").raise_for_status()
        c.post(f"{ams}/_admin/reset").raise_for_status()
        c.post(f"{returnly}/_admin/seed", json={"count": count, "seed": seed}).raise_for_status()
        api = f"{ams}/{SANDBOX_ACCOUNT}/api/v1"
        cb = [{"url": "http://127.0.0.1:9/cb", "message_type": "rmaEvent", "api_version": "1.0"}]
        c.post(f"{api}/callbacks", json=cb, headers=AH).raise_for_status()
        c.post(f"{api}/callback_holds", json=[{"message_type": "rmaEvent"}], headers=AH)


def warehouse(ams: str) -> int:
    """receiveFull for every RMA (untimed): what the warehouse does between the stages."""
    api = f"{ams}/{SANDBOX_ACCOUNT}/api/v1"
    with httpx.Client(timeout=120, headers=AH) as c:
        cids, offset = [], 0
        while True:
            page = c.get(f"{api}/rmas", params={"offset": offset, "limit": 100}).json()["data"]
            cids += [r["customer_identifier"] for r in page]
            if len(page) < 100:
                break
            offset += 100
        for i in range(0, len(cids), 30):
            body = [
                {"customer_identifier": cid, "event": "receiveFull"} for cid in cids[i : i + 30]
            ]
            c.post(f"{api}/data_factory/rmaEvent", json=body).raise_for_status()
    return len(cids)


async def baseline(returnly: str, ams: str, concurrency: int) -> dict[str, float]:
    """The same calls with asyncio + httpx and no orchestration, ledger or bookkeeping."""
    merchant = merchant_from_settings()
    api = f"{ams}/{SANDBOX_ACCOUNT}/api/v1"
    sem = asyncio.Semaphore(concurrency)
    timings: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=120) as c:
        t0 = time.perf_counter()
        url: str | None = f"{returnly}/returns.json?include={INCLUDE}&page_size=100"
        returns = []
        while url:
            doc = (await c.get(url, headers=RH)).json()
            returns += parse_returns_document(doc)
            url = doc["links"]["next"]
        wanted = [r for r in returns if r.status in {"authorized", "in_transit", "delivered"}]
        bodies = [
            m.rma.to_wire() for r in wanted if (m := map_return_to_rma(r, merchant.policy)).ok
        ]

        async def post(batch: list[dict[str, Any]]) -> None:
            async with sem:
                (await c.post(f"{api}/rmas", json=batch, headers=AH)).raise_for_status()

        await asyncio.gather(*(post(bodies[i : i + 30]) for i in range(0, len(bodies), 30)))
        timings["intake"] = time.perf_counter() - t0
        n = await asyncio.to_thread(warehouse, ams)
        t1 = time.perf_counter()
        ids: list[tuple[str, str]] = []
        offset = 0
        while True:
            page = (
                await c.get(f"{api}/rmas", params={"offset": offset, "limit": 100}, headers=AH)
            ).json()["data"]
            ids += [(r["id"], r["customer_identifier"]) for r in page]
            if len(page) < 100:
                break
            offset += 100

        async def read(batch: list[str]) -> list[dict[str, Any]]:
            async with sem:
                r = await c.get(f"{api}/rmas", params={"id": ",".join(batch)}, headers=AH)
                return list(r.json()["data"])

        rmas = [
            rma
            for page in await asyncio.gather(
                *(read([i for i, _ in ids[k : k + 30]]) for k in range(0, len(ids), 30))
            )
            for rma in page
        ]

        # The re-read before refunding, as the bridge makes it: the list from the oldest
        # updated_at intake saw, page by page (links.next), instead of one GET per return.
        since = format_timestamp(min(r.updated_at for r in wanted))
        url = f"{returnly}/returns.json?include={INCLUDE}&page_size=100&min_updated_at={since}"
        fresh = {}
        while url:
            doc = (await c.get(url, headers=RH)).json()
            fresh.update((r.id, r) for r in parse_returns_document(doc))
            url = doc["links"]["next"]

        async def refund(rma: dict[str, Any]) -> None:
            rid = rma["customer_identifier"].removeprefix("RLY-")
            async with sem:
                ret = fresh[rid]
                lines = [{"return_line_item_id": ln.id, "units": ln.units} for ln in ret.line_items]
                body = {
                    "data": {
                        "type": "refunds",
                        "attributes": {"rma": ret.rma, "restock": False, "line_items": lines},
                    }
                }
                await c.post(
                    f"{returnly}/refunds.json",
                    json=body,
                    headers={**RH, "Idempotency-Key": f"k-{rid}"},
                )

        await asyncio.gather(*(refund(r) for r in rmas if r.get("status") == "received"))
        timings["arrival+completion"] = time.perf_counter() - t1
    timings["rmas"] = float(n)
    return timings


def bridge(ams: str, tap: rc.Tap) -> dict[str, float]:
    """The bridge's own flows against a local Prefect server."""
    from flows.arrival import arrival
    from flows.intake import intake

    timings: dict[str, float] = {}
    tap.begin("intake")
    t0 = time.perf_counter()
    summary = intake(merchant=SANDBOX_ACCOUNT)
    timings["intake"] = time.perf_counter() - t0
    tap.end()
    timings["rmas"] = float(warehouse(ams))
    tap.begin("arrival+completion")
    t1 = time.perf_counter()
    done = arrival(merchant=SANDBOX_ACCOUNT)
    timings["arrival+completion"] = time.perf_counter() - t1
    tap.end()
    timings["created"] = float(summary.counts.get("created", 0))
    timings["refunded"] = float(done.counts.get("refunded", 0))
    return timings


def _median(values: list[float]) -> float:
    return statistics.median(values)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """The alternating rounds in this process: timings of both sides, the bridge's requests."""
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    rport, aport = free_port(), free_port()
    bridge_bin = str(Path(sys.executable).parent / "bridge")
    sandboxes = spawn(
        [bridge_bin, "sandbox", "--returnly-port", str(rport), "--ams-port", str(aport)],
        {},
        args.workdir / "sandbox.log",
    )
    returnly, ams = f"http://127.0.0.1:{rport}", f"http://127.0.0.1:{aport}"
    bases: list[dict[str, float]] = []
    ours: list[dict[str, float]] = []
    per: list[dict[str, dict[str, float]]] = []
    counts: dict[str, dict[str, dict[str, int]]] = {}
    try:
        for _ in range(100):
            try:
                httpx.get(f"{returnly}/_admin/faults", timeout=1)
                httpx.get(f"{ams}/_admin/faults", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        os.environ.update(
            {
                "BRIDGE_RETURNLY_BASE_URL": returnly,
                "BRIDGE_AMS_BASE_URL": ams,
                "BRIDGE_AMS_REFUND_STATUSES": '["available", "qc"]',
                "PREFECT_LOGGING_LEVEL": "WARNING",
            }
        )
        with local_prefect_server(args.workdir / "prefect") as api_url:
            os.environ.update(prefect_env(args.workdir / "prefect", api_url))
            from runtime import reset_runtime

            for n in range(args.repeat):
                prepare(returnly, ams, args.returns, args.seed)
                bases.append(asyncio.run(baseline(returnly, ams, args.concurrency)))
                prepare(returnly, ams, args.returns, args.seed)
                ledger = args.workdir / f"ledger-{n}.db"
                os.environ["BRIDGE_LEDGER_URL"] = f"sqlite:///{ledger}"
                reset_runtime()  # a fresh ledger each round
                tap = rc.Tap({"ams": ams, "returnly": returnly})
                ours.append(bridge(ams, tap))
                counts = tap.counts()
                per.append(rc.per_return(counts, args.returns))
                print(
                    f"round {n + 1}: asyncio+httpx {_total(bases[-1]):.1f}s, "
                    f"bridge {_total(ours[-1]):.1f}s",
                    flush=True,
                )
    finally:
        stop_process(sandboxes)
    return {"bases": bases, "ours": ours, "per_return": per, "counts": counts}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--returns", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="rounds, alternating the two sides")
    parser.add_argument("--workdir", type=Path, default=Path("var/bench-throughput"))
    parser.add_argument("--against", type=Path, help="the 'before' checkout (with its .venv)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one or not args.against:
        got = measure(args)
        if args.one:
            print("RESULT " + json.dumps(got), flush=True)
            return
        runs = {"after": got}
    else:
        runs = {"before": _empty(), "after": _empty()}
        checkouts = {"before": args.against.resolve(), "after": None}
        for r in range(args.repeat):
            for name in ("before", "after") if r % 2 == 0 else ("after", "before"):
                workdir = (Path.cwd() / args.workdir / f"{name}-r{r}").resolve()
                cmd = ["--one", "--repeat", "1", "--returns", str(args.returns)]
                cmd += ["--seed", str(args.seed), "--concurrency", str(args.concurrency)]
                cmd += ["--workdir", str(workdir)]
                got = rc.run_side(checkouts[name], Path(__file__).resolve(), cmd)
                for key in ("bases", "ours", "per_return"):
                    runs[name][key] += got[key]
                runs[name]["counts"] = got["counts"]
                print(
                    f"round {r + 1} {name}: asyncio+httpx {_total(got['bases'][0]):.1f}s, "
                    f"bridge {_total(got['ours'][0]):.1f}s",
                    flush=True,
                )
    load = os.getloadavg()
    for name, got in runs.items():
        bases, ours = got["bases"], got["ours"]
        last = ours[-1]
        print(
            f"\n[{name}] {args.returns} returns seeded; {int(last['created'])} RMAs created, "
            f"{int(last['refunded'])} refunded by the bridge "
            f"(baseline: {int(bases[-1]['rmas'])} RMAs)"
        )
        print(f"medians of {len(ours)} alternating rounds; load average now {load[0]:.1f}")
        print(f"{'stage':<22}{'asyncio+httpx':>16}{'bridge':>12}{'ratio':>8}")
        for key in ("intake", "arrival+completion"):
            b, o = _median([r[key] for r in bases]), _median([r[key] for r in ours])
            print(f"{key:<22}{b:>15.1f}s{o:>11.1f}s{o / b:>8.2f}")
        total_b, total_o = _median([_total(r) for r in bases]), _median([_total(r) for r in ours])
        rounds = ", ".join(f"{_total(o) / _total(b):.2f}" for b, o in zip(bases, ours, strict=True))
        print(
            f"{'total':<22}{total_b:>15.1f}s{total_o:>11.1f}s{total_o / total_b:>8.2f}"
            f"   target <= 1.15 (rounds {rounds})"
        )
    last = runs["after"]["ours"][-1]
    minimum = rc.poll_minimum(args.returns, int(last["created"]), int(last["refunded"]))
    per = {n: rc.median_nested(got["per_return"]) for n, got in runs.items()}
    rc.print_counts("poll path (intake-poll, arrival-poll)", per, minimum)
    for name, got in runs.items():
        print(f"  {name} calls (last round): {got['counts']}")


def _empty() -> dict[str, Any]:
    return {"bases": [], "ours": [], "per_return": [], "counts": {}}


def _total(timings: dict[str, float]) -> float:
    return timings["intake"] + timings["arrival+completion"]


if __name__ == "__main__":
    main()
