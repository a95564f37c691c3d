"""Webhook -> RMA throughput with one task worker vs two, each on its own Prefect home.

The multi-host layout of ``tests/e2e/test_multi_home.py`` (a real Prefect server, the deploy
step, the webhook receiver with ``--dispatch task`` and N task workers, every process with
its own ``PREFECT_HOME`` and directory; Prefect server and ledger on Postgres when
``BRIDGE_TEST_POSTGRES_URL`` is set, else SQLite), a fresh layout per round, rounds
alternating one and two workers. Each round: plant N returns, authorize them as fast as the
sandbox admin API takes it (one signed webhook each), and time from the first webhook to the
last RMA's ``created_at`` in AMS. Prints medians side by side, the ratio two/one, and the task
runs each worker took. The receiver batches as it does by default (up to 30 messages per task
run) unless ``--batch-max`` says otherwise.

    BRIDGE_TEST_POSTGRES_URL=postgresql+psycopg2://... \\
        PYTHONPATH=. .venv/bin/python bench/task_workers.py --returns 200 --rounds 3
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.mapping import customer_identifier_for  # noqa: E402
from tests.e2e.test_multi_home import subscribe_receiver  # noqa: E402
from tests.support.multihome import multi_home_layout  # noqa: E402
from tests.support.postgres import POSTGRES_ENV, asyncpg_url, fresh_database  # noqa: E402


def _live_created(ams_url: str) -> dict[str, float]:
    """customer_identifier -> created_at (unix s) of every live RMA."""
    with httpx.Client(base_url=ams_url, timeout=60) as admin:
        body: dict[str, Any] = admin.get("/_admin/export").json()
    return {
        rec["customer_identifier"]: datetime.fromisoformat(rec["created_at"]).timestamp()
        for rec in body["rmas"]
        if rec.get("status") != "deleted" and rec.get("customer_identifier")
    }


def one_round(returns: int, workers: int, batch_max: int | None, workdir: Path) -> dict[str, Any]:
    """One fresh layout with ``workers`` task workers; wall time and returns per second."""
    ledger_url, server_env, backend = None, {}, "sqlite"
    if base := os.environ.get(POSTGRES_ENV):
        ledger_url = fresh_database(base, "bridge_bench_ledger")
        server = asyncpg_url(fresh_database(base, "bridge_bench_prefect"))
        server_env, backend = {"PREFECT_SERVER_DATABASE_CONNECTION_URL": server}, "postgres"
    with multi_home_layout(
        workdir,
        ledger_url=ledger_url,
        task_workers=workers,
        server_env=server_env,
        batch_max=batch_max,
    ) as layout:
        subscribe_receiver(layout)
        with httpx.Client(base_url=layout.returnly_url, timeout=30) as admin:
            warm = admin.post("/_admin/returns", json={"status": "requested"}).json()["id"]
            admin.post(f"/_admin/returns/{warm}/status", json={"status": "authorize"})
            while customer_identifier_for(str(warm)) not in _live_created(layout.ams_url):
                time.sleep(0.1)
            ids = [
                str(admin.post("/_admin/returns", json={"status": "requested"}).json()["id"])
                for _ in range(returns)
            ]
            time.sleep(1.0)  # the warm-up's callbacks settle
            first = time.time()
            for rid in ids:
                admin.post(f"/_admin/returns/{rid}/status", json={"status": "authorize"})
            sent_s = time.time() - first
        wanted = {customer_identifier_for(rid) for rid in ids}
        while True:
            created = _live_created(layout.ams_url)
            if wanted <= set(created):
                break
            if time.time() - first > 600:
                raise SystemExit(f"{len(wanted - set(created))} RMAs missing after 600 s")
            time.sleep(0.25)
        wall = max(created[c] for c in wanted) - first
        per_worker = [len(h.received()) for h in layout.task_workers]
    return {
        "backend": backend,
        "sent_s": sent_s,
        "wall_s": wall,
        "returns_per_s": returns / wall,
        "task_runs": per_worker,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--returns", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-max", type=int, default=None, help="receiver batch size")
    parser.add_argument("--workdir", type=Path, default=Path("var/bench-task-workers"))
    args = parser.parse_args()
    sides = {"1 worker": 1, "2 workers": 2}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    for r in range(args.rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for name in order:
            workdir = (Path.cwd() / args.workdir / f"{sides[name]}-r{r}").resolve()
            got = one_round(args.returns, sides[name], args.batch_max, workdir)
            results[name].append(got)
            brief = {k: round(v, 2) if isinstance(v, float) else v for k, v in got.items()}
            print(f"round {r + 1} {name}: {brief}", flush=True)
    load = os.getloadavg()
    backend = results["1 worker"][0]["backend"]
    print(
        f"\n{args.returns} return.authorized webhooks at full speed, {args.rounds} round(s), "
        f"medians; Prefect server and ledger on {backend}; batch max "
        f"{args.batch_max or 'default'}; {os.cpu_count()} CPUs, load average now "
        f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    print(f"{'':<16}" + "".join(f"{n:>12}" for n in sides) + f"{'2/1':>8}")
    for key in ("wall_s", "returns_per_s", "sent_s"):
        med = [statistics.median(float(x[key]) for x in results[n]) for n in sides]
        print(f"{key:<16}" + "".join(f"{m:>12.2f}" for m in med) + f"{med[1] / med[0]:>8.2f}")
    runs = {n: [x["task_runs"] for x in results[n]] for n in sides}
    print(f"task runs per worker, each round: {runs}")


if __name__ == "__main__":
    main()
