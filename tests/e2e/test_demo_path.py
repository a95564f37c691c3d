"""The demo's path at a smaller size, as a separate process: real Prefect server, the deploy
step and a process worker, sandboxes, webhook receiver and task worker; the demo checks
Returnly, AMS and the ledger agree at the end, and that its deployment runs completed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
DEMO_TIMEOUT_S = 720


def test_demo_path_end_to_end(tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BRIDGE_"))}
    args = [
        sys.executable,
        "-m",
        "deployments.demo",
        "--no-wait",
        "--returns",
        "40",
        "--workdir",
        str(tmp_path / "demo"),
        "--summary-json",
        str(summary_path),
    ]
    with subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=DEMO_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.terminate()  # SIGTERM: the demo stops every server and worker it started
            stdout, stderr = proc.communicate(timeout=60)
            pytest.fail(f"demo did not finish in {DEMO_TIMEOUT_S}s:\n{stdout[-3000:]}")
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    assert summary["problems"] == []
    stages = summary["counts"]["links_by_stage"]
    report = summary["report"]
    assert stages.get("refunded", 0) + stages.get("partially_refunded", 0) > 0
    assert stages.get("cancelled", 0) == len(report["cancelled_before_shipping"]) > 0
    assert stages.get("cancel_exception", 0) == len(report["cancelled_after_shipping"])
    # A concurrent duplicate (callback + poll) may record the one refund as already_refunded.
    refunds = summary["counts"]["refunds_by_status"]
    assert refunds.get("succeeded", 0) + refunds.get("already_refunded", 0) == (
        stages.get("refunded", 0) + stages.get("partially_refunded", 0)
    )
    assert "pending" not in refunds and "failed" not in refunds
    inbox = summary["counts"]["inbox_by_status"]
    assert set(inbox) == {"processed"}
    exceptions = summary["counts"]["open_exceptions_by_reason"]
    assert exceptions.get("undeliverable", 0) == report["warehouse_events"].get("undeliverable", 0)
    assert "Prefect UI: http://127.0.0.1:" in stdout
    assert isinstance(summary["drift"]["total"], int)
    assert list((tmp_path / "demo" / "reports").rglob("drift.parquet"))

    # The polls and the reconciliation ran as deployment runs on the process worker, one run
    # was started by its event trigger (a real webhook's event), all tagged with the merchant.
    deployments = summary["deployments"]
    assert len(deployments) >= 12
    for name in ("intake/intake-poll", "arrival/arrival-poll", "sweep-inbox/sweep-inbox"):
        assert deployments[name]["active_schedules"] == 1, name  # schedules stay on
    assert deployments["intake/on-return-authorized"]["event_trigger"]
    runs = summary["deployment_runs"]
    started = {(r["deployment"], r["trigger"]) for r in runs}
    assert {
        ("intake/intake-poll", "run_deployment"),
        ("arrival/arrival-poll", "run_deployment"),
        ("reconcile/reconcile-now", "run_deployment"),
        ("intake/on-return-authorized", "event returnly.return.authorized"),
    } <= started
    review = "review-held-refund/review-held-refund"  # one run per held refund
    demo_runs = [r for r in runs if r["trigger"] != "schedule" and r["deployment"] != review]
    assert len(demo_runs) == 5  # intake-poll twice
    assert len({r["flow_run_id"] for r in runs}) == len(runs)
    for run in demo_runs:
        assert run["state"] == "Completed", run
        assert "merchant:sandbox-merchant" in run["tags"], run
        assert "returns-bridge" in run["tags"], run  # inherited from the deployment
        assert run["trigger_to_start_s"] is not None and run["trigger_to_start_s"] > 0
    assert not [r for r in runs if r["state"] in ("Failed", "Crashed", "TimedOut")]
    assert "deployment runs (deployment, started by, state, flow run):" in stdout
    # The story ends with a person's decisions on held refunds, in their suspended runs.
    added = {"approve": 1, "reject": 0}
    for item in summary["reviewed"]:
        assert item["run_state"] == "Completed" and item["exception_status"] == "resolved"
        assert item["refunds_in_returnly"] - item["refunds_before"] == added[item["decision"]]
    assert "held refunds decided in Prefect" in stdout
    assert "intake/on-return-authorized" in stdout
