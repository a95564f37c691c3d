"""A CI-sized chaos run as a separate process: 300 returns through the real local stack (Prefect
server, process worker, task worker, webhook receiver, both sandboxes) with every fault kind
on, each worker SIGKILLed and restarted, the receiver and the Prefect server restarted; then
every invariant, computed from the sandboxes' own exports, must hold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
RUN_TIMEOUT_S = 840
RETURNS = 300
FAULT_KINDS = {"error", "rate_limit", "hang", "commit_then_fail", "duplicate", "delayed"}


def test_chaos_run_keeps_every_invariant(tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BRIDGE_"))}
    args = [
        *(sys.executable, "-m", "cli.main", "chaos", "--returns", str(RETURNS)),
        *("--kills", "1", "--seed", "11", "--no-progress"),
        *("--workdir", str(tmp_path / "chaos"), "--summary-json", str(summary_path)),
        *("--export", str(tmp_path / "export")),
    ]
    with subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        try:
            output, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.terminate()  # SIGTERM: the run stops every process it started
            output, _ = proc.communicate(timeout=120)
            pytest.fail(f"chaos run did not finish in {RUN_TIMEOUT_S}s:\n{output[-4000:]}")
    summary = json.loads(summary_path.read_text())

    # The run did what it promises: every fault kind, every kill and a recovery for each.
    injected = {k for side in summary["injected"].values() for k, n in side.items() if n}
    assert injected >= FAULT_KINDS, injected
    faulted, total = (sum(x) for x in zip(*summary["faulted_share"].values(), strict=True))
    assert 0.1 <= faulted / total <= 0.35, summary["faulted_share"]
    roles = ("process-worker", "task-worker", "receiver", "prefect-server")
    assert all(summary["kills"].get(role, 0) >= 1 for role in roles), summary["kills"]
    assert summary["recoveries"] == summary["kills"]
    assert summary["quiet"], summary["settle_rounds"]
    assert summary["reconcile_state"] == "COMPLETED"
    assert {p["name"].split(":")[0] for p in summary["phases"]} >= {"seed", "chaos", "settle"}
    assert list((tmp_path / "export").glob("*-export.json"))

    # And the bridge kept its promises, by the sandboxes' own records.
    by_key = {i["key"]: i for i in summary["invariants"]}
    assert len(by_key) == 6
    assert {k: i["violations"] for k, i in by_key.items()} == dict.fromkeys(by_key, 0), (
        json.dumps(summary["invariants"], indent=1) + output[-3000:]
    )
    # Issue 10's sweep after the run: no credential, in any encoding, anywhere it wrote.
    sweep = summary["secrets_sweep"]
    assert sweep["hits"] == [], sweep["hits"]
    assert sweep["searched"]["logs"] > 100 and sweep["searched"]["events"] > 100, sweep
    assert proc.returncode == 0, output[-3000:]
