"""The demo's path at a smaller size, as a separate process: real Prefect server, the deploy
step and a process worker, sandboxes, webhook receiver and task worker; the demo checks
Returnly, AMS and the ledger agree at the end, and that its deployment runs completed.

While the demo waits for Ctrl-C, a real headless Chromium opens the Prefect UI address it
printed and checks that the Runs, Deployments, Artifacts and a flow run's pages show the demo's
data and the review queue's artifact (screenshots under ``var/ui-screenshots``); then the demo
is stopped with SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from tests.support.browser import PageCheck, open_pages, require_chromium

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
DEMO_TIMEOUT_S = 720
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "ui-screenshots"
WAITING = "Press Ctrl-C to stop everything."


def _read_until_waiting(stream: IO[str], lines: list[str], ready: threading.Event) -> None:
    for line in stream:
        lines.append(line)
        if line.strip() == WAITING:
            ready.set()
    ready.set()  # the demo ended (or failed) without waiting


def _latest_artifact_id(ui_url: str, key: str) -> str:
    query = {"artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC", "limit": 1}
    found = httpx.post(f"{ui_url}/api/artifacts/filter", json=query, timeout=30)
    found.raise_for_status()
    assert found.json(), f"no artifact {key}"
    return str(found.json()[0]["id"])


def _ui_checks(summary: dict[str, Any], review_table: str, budget_table: str) -> list[PageCheck]:
    runs = summary["deployment_runs"]
    reconcile = next(r for r in runs if r["deployment"] == "reconcile/reconcile-now")
    return [
        PageCheck("/runs", [reconcile["flow_run_name"], "reconcile"], "runs.png"),
        PageCheck("/deployments", ["intake-poll", "on-return-authorized"], "deployments.png"),
        PageCheck(
            "/artifacts",
            ["reconcile-summary-sandbox-merchant", "demo-story", "reconcile-progress"],
            "artifacts.png",
        ),
        PageCheck(
            f"/artifacts/artifact/{review_table}",
            ["review-sandbox-merchant", "suggested_action", "what_happened"],
            "review-queue.png",
        ),
        PageCheck(
            f"/artifacts/artifact/{budget_table}",
            ["budget-sandbox-merchant", "requests last hour", "limit per hour"],
            "request-budget.png",
        ),
        PageCheck(
            f"/runs/flow-run/{reconcile['flow_run_id']}",
            [reconcile["flow_run_name"], "Completed"],
            "flow-run.png",
        ),
    ]


@dataclass
class RunningDemo:
    """The demo, done with its story and waiting for Ctrl-C (its UI still up)."""

    stdout: str
    summary: dict[str, Any]
    ui_url: str
    workdir: Path
    log: Path
    """The demo's stderr: its log lines."""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    """Run the demo once for the module; SIGTERM it afterwards and check it exited cleanly."""
    tmp_path = tmp_path_factory.mktemp("demo")
    summary_path = tmp_path / "summary.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BRIDGE_"))}
    args = [
        sys.executable,
        "-m",
        "deployments.demo",
        "--returns",
        "40",
        "--workdir",
        str(tmp_path / "demo"),
        "--summary-json",
        str(summary_path),
    ]
    lines: list[str] = []
    with (
        (tmp_path / "demo-stderr.log").open("w") as stderr,
        subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True) as proc,
    ):
        assert proc.stdout is not None
        ready = threading.Event()
        reader = threading.Thread(
            target=_read_until_waiting, args=(proc.stdout, lines, ready), daemon=True
        )
        reader.start()
        try:
            if not ready.wait(DEMO_TIMEOUT_S):
                pytest.fail(f"demo did not finish in {DEMO_TIMEOUT_S}s:\n{''.join(lines)[-3000:]}")
            stdout = "".join(lines)
            assert proc.poll() is None, f"the demo exited ({proc.returncode}):\n{stdout[-3000:]}"
            match = re.search(r"Prefect UI: (http://127\.0\.0\.1:\d+)", stdout)
            assert match, stdout[-3000:]
            summary = json.loads(summary_path.read_text())
            yield RunningDemo(
                stdout, summary, match.group(1), tmp_path / "demo", tmp_path / "demo-stderr.log"
            )
        finally:
            proc.send_signal(signal.SIGTERM)  # the demo stops every server and worker it started
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            reader.join(timeout=10)
    assert proc.returncode == 0, "".join(lines)[-3000:]


def test_the_prefect_ui_shows_the_demo_in_a_real_browser(demo: RunningDemo) -> None:
    require_chromium()
    review_table = _latest_artifact_id(demo.ui_url, "review-sandbox-merchant")
    budget_table = _latest_artifact_id(demo.ui_url, "budget-sandbox-merchant")
    checks = _ui_checks(demo.summary, review_table, budget_table)
    seen = open_pages(demo.ui_url, checks, SCREENSHOTS)
    for page in seen:
        assert not page.unreachable, f"{page.url}: the UI cannot reach the API ({page.screenshot})"
        assert not page.missing, f"{page.url}: not shown {page.missing} ({page.screenshot})"
        assert page.screenshot.stat().st_size > 10_000, f"{page.screenshot} looks blank"


def test_demo_path_end_to_end(demo: RunningDemo) -> None:
    summary, stdout = demo.summary, demo.stdout
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
    # Not a terminal: a log line per story step instead of the bar.
    assert "story: step final consistency check (13/13)" in demo.log.read_text()
    assert isinstance(summary["drift"]["total"], int)
    assert list((demo.workdir / "reports").rglob("drift.parquet"))

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
