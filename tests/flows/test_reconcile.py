"""The reconcile flow under Prefect: artifacts, report files, thresholds, healing, isolation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
import pytest
from prefect.artifacts import Artifact

from core.mapping import customer_identifier_for as cid
from core.settings import SANDBOX_ACCOUNT
from flows.reconcile import DriftAboveThresholdError, ReconcileError, reconcile
from ledger import Ledger
from runtime import ams_client, load_merchant, returnly_client
from stages import names as stages
from stages.intake import intake_returns
from stages.reconcile import read_links
from tests.support.stack import Stack

MERCHANT = SANDBOX_ACCOUNT


@pytest.fixture(autouse=True)
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "reports"
    monkeypatch.setenv("BRIDGE_REPORTS_DIR", str(root))
    return root


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _plant_money_out(stack: Stack, now: datetime) -> str:
    """Refunded in Returnly, nothing received in AMS: critical drift."""
    rid = str(
        stack.plant(
            status="refunded",
            created_at=_iso(now - timedelta(days=6)),
            updated_at=_iso(now - timedelta(days=2)),
            refunds=[{"created_at": _iso(now - timedelta(days=2))}],
        )["id"]
    )
    with stack.admin("ams") as admin:
        admin.post(
            "/_admin/rmas",
            json={
                "customer_identifier": cid(rid),
                "created_at": _iso(now - timedelta(days=6)),
                "line_items": [
                    {
                        "customer_sku_id": "TEE-BLACK-M",
                        "quantity": 1,
                        "return_reason_code": "tooBig",
                    }
                ],
            },
        ).raise_for_status()
    return rid


def _artifact(key: str) -> Any:
    found = Artifact.get(key)
    assert found is not None, key
    return found


def test_reconcile_publishes_artifacts_and_writes_the_report(stack: Stack, reports: Path) -> None:
    now = datetime.now(UTC)
    money_out = _plant_money_out(stack, now)
    no_rma = str(stack.plant(created_at=_iso(now - timedelta(days=1)))["id"])

    result = reconcile(merchant=MERCHANT, now=now)

    mine = result.merchants[MERCHANT]
    assert (mine.total, mine.returns, mine.rmas) == (2, 2, 1)
    assert mine.by_kind["refunded_not_received"] == 1 and mine.by_kind["authorized_no_rma"] == 1
    assert mine.by_severity == {"critical": 1, "high": 0, "medium": 1, "low": 0}
    assert result.total == 2 and result.failed_merchants == {}
    assert set(mine.timings) >= {"fetch_s", "build_frames_s", "classify_s"}

    rows = json.loads(_artifact("reconcile-drift-sandbox-merchant").data)
    assert [(r["customer_identifier"], r["kind"], r["severity"]) for r in rows] == [
        (cid(money_out), "refunded_not_received", "critical"),
        (cid(no_rma), "authorized_no_rma", "medium"),
    ]
    assert isinstance(rows[0]["since"], str) and rows[1]["healable"] is True
    markdown = _artifact("reconcile-report-sandbox-merchant").data
    assert "# Returns drift report: sandbox-merchant" in markdown
    assert "_No previous report to compare with._" in markdown
    assert "## Drift by kind over the last nights" in markdown and "Mode: **off**." in markdown
    assert "## Triage" in markdown and "First report: every row is new tonight." in markdown
    assert "## Refund speed" in markdown and "Returnly's `created_at`" in markdown
    assert _artifact("reconcile-chart-sandbox-merchant").data.startswith("data:image/png;base64,")
    assert _artifact("reconcile-speed-chart-sandbox-merchant").data.startswith("data:image/png")
    assert rows[0]["triage"] == "new" and rows[0]["first_seen"] == now.isoformat()
    assert mine.triage["new"] == 2 and mine.refund_speed["authorize_to_rma"]["returns"] == 1
    assert (
        "| sandbox-merchant | 2 | 1 | 0 | 1 | 0 | 1 | 0 |"
        in _artifact("reconcile-summary-sandbox-merchant").data
    )

    progress = _artifact("reconcile-progress-sandbox-merchant")
    assert (progress.type, float(progress.data)) == ("progress", 100.0)
    assert "1 of 1 merchants" in (progress.description or "")

    folder = reports / MERCHANT / now.date().isoformat()
    assert mine.report_dir == str(folder)
    assert len(pd.read_parquet(folder / "drift.parquet")) == 2
    assert len(pd.read_csv(folder / "drift.csv")) == 2
    texts = [p for p in folder.iterdir() if p.suffix not in {".parquet", ".png"}]
    published = [markdown, *(p.read_text() for p in texts)]
    for secret in load_merchant(MERCHANT).secret_values():
        assert not any(secret in text for text in published)

    # The next night compares with this one, under the same keys.
    again = reconcile(merchant=MERCHANT, now=now + timedelta(days=1))
    assert again.merchants[MERCHANT].total == 2
    assert again.merchants[MERCHANT].triage == {
        "new": 0,
        "still_open": 2,
        "resolved": 0,
        "explained": 0,
        "unexplained": 2,
    }
    markdown = _artifact("reconcile-report-sandbox-merchant").data
    assert "| change |" in markdown and "_No previous report" not in markdown
    assert "**0 new tonight**, 2 still open, 0 resolved since." in markdown
    rows = json.loads(_artifact("reconcile-drift-sandbox-merchant").data)
    assert {(r["triage"], r["first_seen"]) for r in rows} == {("still_open", now.isoformat())}
    assert (reports / MERCHANT / (now + timedelta(days=1)).date().isoformat()).is_dir()


def test_fail_above_fails_the_run_after_publishing(stack: Stack, reports: Path) -> None:
    now = datetime.now(UTC)
    _plant_money_out(stack, now)
    assert reconcile(merchant=MERCHANT, fail_above={"critical": 1}, now=now).total == 1
    with pytest.raises(DriftAboveThresholdError, match="sandbox-merchant: critical 1 > 0"):
        reconcile(merchant=MERCHANT, fail_above={"critical": 0, "total": 5}, now=now)
    assert (reports / MERCHANT / now.date().isoformat() / "drift.parquet").is_file()
    assert "1 drift rows" in (_artifact("reconcile-drift-sandbox-merchant").description or "")
    with pytest.raises(ValueError, match="unknown key"):
        reconcile(merchant=MERCHANT, fail_above={"severe": 0})


def _snapshot(stack: Stack, ledger: Ledger, rids: list[str]) -> tuple[Any, ...]:
    with stack.ams() as ams:
        rmas = sorted((m.customer_identifier or "", m.status or "") for m in ams.iter_rmas())
    links = sorted((lk.return_id, lk.stage) for lk in read_links(ledger, MERCHANT))
    history = [len(ledger.history(MERCHANT, rid)) for rid in rids]
    return rmas, links, history, [stack.refund_count(rid) for rid in rids]


def test_heal_dry_run_changes_nothing_and_heal_repairs(stack: Stack, ledger: Ledger) -> None:
    missing_rma = str(stack.plant()["id"])
    not_refunded = str(stack.plant(lines=[{"units": 2}])["id"])
    config = load_merchant(MERCHANT)
    returnly = returnly_client(config)
    intake_returns(
        config, [returnly.get_return(not_refunded)], ledger=ledger, ams=ams_client(config)
    )
    with stack.ams() as ams:
        ams.trigger_rma_event(cid(not_refunded), "receiveFull")  # the callback is lost
    later = datetime.now(UTC) + timedelta(days=3)  # past every grace period
    rids = [missing_rma, not_refunded]
    before = _snapshot(stack, ledger, rids)

    planned = reconcile(merchant=MERCHANT, heal=True, now=later)
    steps = planned.merchants[MERCHANT].healing
    assert {(s.return_id, s.action, s.outcome) for s in steps} == {
        (missing_rma, "intake", "planned"),
        (not_refunded, "completion", "planned"),
    }
    assert _snapshot(stack, ledger, rids) == before
    assert "Mode: **dry run" in _artifact("reconcile-report-sandbox-merchant").data

    healed = reconcile(merchant=MERCHANT, heal=True, dry_run=False, now=later)
    outcomes = {(s.return_id, s.outcome) for s in healed.merchants[MERCHANT].healing}
    assert outcomes == {(missing_rma, "created"), (not_refunded, "refunded")}
    with stack.ams() as ams:
        assert ams.get_rma_by_cid(cid(missing_rma)) is not None
    assert stack.refund_count(not_refunded) == 1
    assert ledger.get_link(MERCHANT, return_id=not_refunded).stage == stages.REFUNDED  # type: ignore[union-attr]
    assert any(e.stage == "reconcile" for e in ledger.history(MERCHANT, missing_rma))
    rows = json.loads(_artifact("reconcile-drift-sandbox-merchant").data)
    assert {r["heal"] for r in rows} == {"intake: created", "completion: refunded"}
    summary = _artifact("reconcile-summary-sandbox-merchant").data
    assert "| sandbox-merchant | 2 | 0 | 0 | 2 | 0 | 2 | 2 |" in summary

    assert reconcile(merchant=MERCHANT, heal=True, dry_run=False, now=later).total == 0
    assert stack.refund_count(not_refunded) == 1


def test_one_merchant_failing_does_not_stop_the_others(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = stack.merchant()
    secrets = {
        "returnly_api_token": good.returnly_api_token.get_secret_value(),
        "returnly_webhook_secret": good.returnly_webhook_secret.get_secret_value(),
        "ams_api_token": good.ams_api_token.get_secret_value(),
        "ams_callback_token": good.ams_callback_token.get_secret_value(),
    }
    base = {**good.model_dump(mode="json"), **secrets}
    merchants = [
        {**base, "name": "a-broken", "returnly_api_token": "not-the-token"},
        base,
    ]
    path = tmp_path / "merchants.json"
    path.write_text(json.dumps(merchants))
    monkeypatch.setenv("BRIDGE_MERCHANTS_FILE", str(path))
    _plant_money_out(stack, datetime.now(UTC))

    with pytest.raises(ReconcileError, match="merchant a-broken failed") as info:
        reconcile(merchant="all")
    assert not isinstance(info.value, DriftAboveThresholdError)
    rows = json.loads(_artifact("reconcile-drift-sandbox-merchant").data)
    assert [r["kind"] for r in rows] == ["refunded_not_received"]
    summary = _artifact("reconcile-summary-all").data
    assert "**merchant a-broken failed:** ReturnlyAuthError" in summary
    assert "not-the-token" not in summary


def test_reconcile_does_not_advise_intake_for_a_return_held_for_a_missing_sku(
    stack: Stack, ledger: Ledger
) -> None:
    held = str(stack.plant(lines=[{"sku": None}])["id"])
    config = load_merchant(MERCHANT)
    intake_returns(
        config, [returnly_client(config).get_return(held)], ledger=ledger, ams=ams_client(config)
    )
    (exception,) = ledger.list_exceptions(MERCHANT)
    assert (exception.reason, exception.return_id) == ("mapping:missing_sku", held)
    later = datetime.now(UTC) + timedelta(days=3)  # past the intake grace period

    planned = reconcile(merchant=MERCHANT, heal=True, now=later)

    (row,) = json.loads(_artifact("reconcile-drift-sandbox-merchant").data)
    assert (row["customer_identifier"], row["kind"]) == (cid(held), "authorized_no_rma")
    assert "re-run intake" not in row["suggested_action"].lower()
    assert f"#{exception.id}" in row["suggested_action"]
    assert "SKU" in row["suggested_action"]
    assert (row["exception_id"], row["exception_reason"]) == (exception.id, exception.reason)
    assert row["healable"] is False
    assert planned.merchants[MERCHANT].healing == []  # the healer leaves it to a person
