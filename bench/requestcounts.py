"""What the lifecycle benches share: requests per return from the sandboxes' own request logs.

Each sandbox logs every API request it answered (``GET /_admin/requests``; admin calls and
the bench's own ``/_admin`` use are not logged). A bench marks the log index where a stage
starts and ends and counts what the bridge sent in between, per system, next to the
minimum for the same work. The AMS DataFactory plays the warehouse, not the bridge: it is
left out. Also: run one side of a comparison in another checkout (``--against``), so the
"before" figures come from the old code in the same run.

Imported by path (``sys.path`` gets this folder): the benches run with ``-P``, also from a
baseline checkout that does not have this file.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

WAREHOUSE_PATH = "/data_factory/"


def log_index(sandbox_url: str) -> int:
    """The index the next logged request will get."""
    with httpx.Client(base_url=sandbox_url, timeout=60) as admin:
        body = admin.get("/_admin/requests", params={"since": 10**12, "limit": 1}).json()
    return int(body["next"])


def bridge_requests(sandbox_url: str, start: int, stop: int | None = None) -> list[dict[str, Any]]:
    """Entries ``start`` (inclusive) to ``stop`` (exclusive), the warehouse's left out."""
    out: list[dict[str, Any]] = []
    nxt = start
    with httpx.Client(base_url=sandbox_url, timeout=60) as admin:
        while stop is None or nxt < stop:
            limit = 5000 if stop is None else min(5000, stop - nxt)
            body = admin.get("/_admin/requests", params={"since": nxt, "limit": limit}).json()
            got = body["requests"]
            if not got:
                break
            out += got
            nxt = int(body["next"])
    return [e for e in out if WAREHOUSE_PATH not in str(e["path"])]


def by_call(entries: Sequence[Mapping[str, Any]]) -> Counter[str]:
    """Counts by ``METHOD /path`` with ids folded (``/returns/{id}.json``)."""
    from sandbox.requestlog import path_template

    return Counter(f"{e['method']} {path_template(str(e['path']))}" for e in entries)


@dataclass
class StageWindow:
    """Log indexes of both sandboxes where one stage started (and, once closed, ended)."""

    name: str
    start: dict[str, int]
    stop: dict[str, int] = field(default_factory=dict)


class Tap:
    """Marks stages in both sandboxes' logs; counts each system's requests per stage."""

    def __init__(self, urls: Mapping[str, str]) -> None:
        self.urls = dict(urls)
        self.windows: list[StageWindow] = []

    def begin(self, stage: str) -> None:
        """A stage starts now."""
        self.windows.append(StageWindow(stage, {s: log_index(u) for s, u in self.urls.items()}))

    def end(self) -> None:
        """The current stage ended now."""
        self.windows[-1].stop = {s: log_index(u) for s, u in self.urls.items()}

    def counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{stage: {system: {"METHOD /path": n}}}``."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for w in self.windows:
            out[w.name] = {
                system: dict(by_call(bridge_requests(url, w.start[system], w.stop.get(system))))
                for system, url in self.urls.items()
            }
        return out


def per_return(
    counts: Mapping[str, Mapping[str, Mapping[str, int]]], returns: int
) -> dict[str, dict[str, float]]:
    """``{stage: {system: requests per return}}`` plus a ``total`` stage."""
    out: dict[str, dict[str, float]] = {}
    totals: Counter[str] = Counter()
    for stage, systems in counts.items():
        out[stage] = {}
        for system, calls in systems.items():
            n = sum(calls.values())
            totals[system] += n
            out[stage][system] = n / returns
    out["total"] = {system: n / returns for system, n in totals.items()}
    return out


def webhook_minimum(returns: int, refunded: int) -> dict[str, dict[str, float]]:
    """The fewest requests for the same work on the webhook path, per return.

    Intake: AMS one POST per 30 RMAs; Returnly one list page per 100 returns re-read.
    Arrival + completion: AMS none (the callbacks carry the RMA); Returnly one list page per
    100 re-read plus one refund POST per refunded return (refunds take one return each).
    """
    n = returns
    intake = {"ams": math.ceil(n / 30) / n, "returnly": math.ceil(n / 100) / n}
    done = {"ams": 0.0, "returnly": (math.ceil(refunded / 100) + refunded) / n}
    return {
        "intake": intake,
        "arrival+completion": done,
        "total": {s: intake[s] + done[s] for s in intake},
    }


def poll_minimum(returns: int, rmas: int, refunded: int) -> dict[str, dict[str, float]]:
    """The fewest requests for the same work on the poll path, per return.

    Intake: Returnly one list page per 100 returns, AMS one POST per 30. Arrival: AMS one
    list page per 100 RMAs (detail records, nothing more to read). Completion: Returnly one
    list page per 100 re-read plus one refund POST per refunded return.
    """
    n = returns
    intake = {"ams": math.ceil(rmas / 30) / n, "returnly": math.ceil(n / 100) / n}
    done = {
        "ams": math.ceil(rmas / 100) / n,
        "returnly": (math.ceil(refunded / 100) + refunded) / n,
    }
    return {
        "intake": intake,
        "arrival+completion": done,
        "total": {s: intake[s] + done[s] for s in intake},
    }


def print_counts(
    title: str,
    sides: Mapping[str, Mapping[str, Mapping[str, float]]],
    minimum: Mapping[str, Mapping[str, float]],
) -> None:
    """One table: requests per return per stage and system, each side and the minimum."""
    names = list(sides)
    print(f"\n{title}: requests per return (sandbox request logs)")
    head = f"{'stage':<20}{'system':<10}" + "".join(f"{n:>14}" for n in names)
    print(head + f"{'minimum':>10}" + (f"{'before/after':>14}" if len(names) == 2 else ""))
    for stage in minimum:
        for system in ("ams", "returnly"):
            vals = [sides[n].get(stage, {}).get(system, float("nan")) for n in names]
            row = f"{stage:<20}{system:<10}" + "".join(f"{v:>14.3f}" for v in vals)
            row += f"{minimum[stage][system]:>10.3f}"
            if len(vals) == 2:
                row += f"{(vals[1] / vals[0]) if vals[0] else float('nan'):>13.2f}x"
            print(row)


def median_nested(runs: Sequence[Mapping[str, Mapping[str, float]]]) -> dict[str, dict[str, float]]:
    """Per stage and system, the median over rounds."""
    out: dict[str, dict[str, float]] = {}
    for stage in runs[0]:
        out[stage] = {
            s: statistics.median(r[stage][s] for r in runs if stage in r) for s in runs[0][stage]
        }
    return out


def run_side(checkout: Path | None, script: Path, args: list[str]) -> dict[str, Any]:
    """Run ``script args`` with a checkout's own venv and working directory; its RESULT line.

    ``checkout`` None: this checkout (the interpreter running now, the current directory).
    """
    python = sys.executable if checkout is None else str(checkout / ".venv" / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [python, "-P", str(script), *args],
        capture_output=True,
        text=True,
        cwd=str(checkout) if checkout is not None else None,
        env=env,
        check=False,
    )
    if proc.returncode != 0 or "RESULT " not in proc.stdout:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"{script.name} {' '.join(args)} in {checkout or '.'} failed")
    result: dict[str, Any] = json.loads(proc.stdout.rsplit("RESULT ", 1)[1].splitlines()[0])
    return result


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))]
