"""Operator tools under a real (temporary) Prefect server, against the sandboxes.

Replay and backfill flows, ``bridge onboard`` and the onboard-check flow, the deploy step's
work pool and rate limits, and the rate gate the clients pass through.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prefect.artifacts import Artifact
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from typer.testing import CliRunner

from cli.main import app
from core.mapping import customer_identifier_for
from core.settings import SANDBOX_ACCOUNT, SANDBOX_AMS_TOKEN, SANDBOX_RETURNLY_TOKEN
from deployments.deploy import RateLimits, deploy
from deployments.merchants import onboard_check
from flows.backfill import backfill
from flows.replay_return import replay_return
from ledger import Ledger
from runtime import ams_client, load_merchant, reset_runtime
from runtime.blocks import MerchantBlock
from stages import names as stages
from tasks.lifecycle import INTAKE_WATERMARK
from tests.support.stack import Stack

MERCHANT = SANDBOX_ACCOUNT
NEW = "acme-test"
WEBHOOK_SECRET = "whsec-acme-test-0123456789"
CALLBACK_TOKEN = "cbtok-acme-test-0123456789"


def _delete_limits(*names: str) -> None:
    with get_client(sync_client=True) as client:
        for name in names:
            with contextlib.suppress(ObjectNotFound):
                client.delete_global_concurrency_limit_by_name(name)


@pytest.fixture
def onboarded_cleanup() -> Iterator[None]:
    """Whatever a test onboards is gone afterwards (``all`` must mean the sandbox merchant)."""
    yield
    with contextlib.suppress(ValueError):
        MerchantBlock.delete(NEW)
    _delete_limits(f"ams-{NEW}", f"returnly-{NEW}")
    reset_runtime()


def _onboard(stack: Stack, *extra: str, ams_token: str = SANDBOX_AMS_TOKEN) -> tuple[int, str]:
    args = [
        "onboard",
        NEW,
        "--receiver-url",
        stack.sink_url,
        "--returnly-base-url",
        stack.returnly_url,
        "--ams-base-url",
        stack.ams_url,
        "--ams-account",
        SANDBOX_ACCOUNT,
        *extra,
    ]
    env = {
        "BRIDGE_ONBOARD_RETURNLY_API_TOKEN": SANDBOX_RETURNLY_TOKEN,
        "BRIDGE_ONBOARD_AMS_API_TOKEN": ams_token,
        "BRIDGE_ONBOARD_RETURNLY_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "BRIDGE_ONBOARD_AMS_CALLBACK_TOKEN": CALLBACK_TOKEN,
    }
    result = CliRunner().invoke(app, args, env=env)
    return result.exit_code, result.output


# --- replay ------------------------------------------------------------------------------


def test_replay_return_drives_a_return_to_its_refund(stack: Stack, ledger: Ledger) -> None:
    rid = stack.plant(lines=[{"units": 1}])["id"]
    first = replay_return(merchant=MERCHANT, return_id=rid)
    assert first.counts == {"created": 1, "updated": 1}  # RMA created, its status recorded
    link = ledger.get_link(MERCHANT, return_id=rid)
    assert link is not None and link.stage == stages.RMA_CREATED and link.ams_uuid

    with stack.ams() as ams:
        ams.trigger_rma_event(customer_identifier_for(rid), "receiveFull")
    second = replay_return(merchant=MERCHANT, return_id=rid)
    assert second.counts == {"already_done": 1, "updated": 1, "refunded": 1}
    assert stack.refund_count(rid) == 1

    third = replay_return(merchant=MERCHANT, return_id=rid)  # Returnly now says "refunded"
    assert third.counts == {"skipped": 2, "already_done": 1}
    assert stack.refund_count(rid) == 1
    artifact = Artifact.get(f"replay-{MERCHANT}")
    assert artifact is not None and rid in str(artifact.description)


def test_replay_return_dry_run_changes_nothing(stack: Stack, ledger: Ledger) -> None:
    rid = stack.plant()["id"]
    summary = replay_return(merchant=MERCHANT, return_id=rid, dry_run=True)
    assert summary.counts == {"planned": 1}
    assert ledger.get_link(MERCHANT, return_id=rid) is None
    with stack.ams() as ams:
        assert list(ams.iter_rmas()) == []


def test_replay_return_of_a_cancelled_return_deletes_its_open_rma(
    stack: Stack, ledger: Ledger
) -> None:
    rid = stack.plant()["id"]
    replay_return(merchant=MERCHANT, return_id=rid)
    stack.set_status(rid, "cancel")
    assert replay_return(merchant=MERCHANT, return_id=rid).counts == {"cancelled": 1}
    with stack.ams() as ams:
        rma = ams.get_rma_by_cid(customer_identifier_for(rid))
    assert rma is not None and rma.is_deleted
    assert ledger.get_link(MERCHANT, return_id=rid).stage == stages.CANCELLED  # type: ignore[union-attr]


def test_replay_return_unknown_merchant_fails_before_any_call() -> None:
    with pytest.raises(LookupError, match="unknown merchant 'nope'"):
        replay_return(merchant="nope", return_id="1")


# --- backfill ----------------------------------------------------------------------------


def _plant_aged(stack: Stack, days_ago: float) -> str:
    at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    return str(stack.plant(created_at=at, updated_at=at)["id"])


def test_backfill_creates_rmas_for_the_window_only(stack: Stack, ledger: Ledger) -> None:
    old, inside, recent = (_plant_aged(stack, d) for d in (10, 5, 1))
    now = datetime.now(UTC)
    dry = backfill(
        merchant="all", since=now - timedelta(days=7), until=now - timedelta(days=2), dry_run=True
    )
    assert dry.ids == {"planned": [inside]}
    with stack.ams() as ams:
        assert list(ams.iter_rmas()) == []

    summary = backfill(
        merchant=MERCHANT,
        since=(now - timedelta(days=7)).replace(tzinfo=None),  # naive is UTC
        until=now - timedelta(days=2),
    )
    assert summary.ids == {"created": [inside]}
    progress = Artifact.get("backfill-progress-sandbox-merchant")
    assert progress is not None and progress.type == "progress"
    assert float(progress.data) == 100.0 and "(1/1)" in (progress.description or "")
    assert ledger.get_link(MERCHANT, return_id=old) is None
    assert ledger.get_link(MERCHANT, return_id=recent) is None
    assert ledger.get_watermark(MERCHANT, INTAKE_WATERMARK) is None  # the poll's mark untouched


def test_backfill_rejects_an_empty_window() -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValueError, match="empty window"):
        backfill(merchant=MERCHANT, since=now, until=now - timedelta(hours=1))


# --- onboarding --------------------------------------------------------------------------


def test_onboard_validates_subscribes_and_saves(stack: Stack, onboarded_cleanup: None) -> None:
    code, output = _onboard(stack)
    assert code == 0, output
    for secret in (SANDBOX_RETURNLY_TOKEN, SANDBOX_AMS_TOKEN, WEBHOOK_SECRET, CALLBACK_TOKEN):
        assert secret not in output
    assert "ok   returnly credentials" in output
    assert f"block merchant-config/{NEW}: saved" in output
    with stack.returnly() as returnly:
        hooks = {(w.event, w.url) for w in returnly.list_webhooks()}
    receiver = f"{stack.sink_url}/webhooks/returnly/{NEW}"
    assert hooks == {("return.authorized", receiver), ("return.canceled_by_merchant", receiver)}
    with stack.ams() as ams:
        callbacks = [c.url for c in ams.list_callbacks("rmaEvent")]
    assert f"{stack.sink_url}/webhooks/ams/{NEW}" in callbacks

    reset_runtime()
    config = load_merchant(NEW)  # found as a block: not in the settings
    assert config.returnly_webhook_secret.get_secret_value() == WEBHOOK_SECRET
    assert config.ams_base_url == stack.ams_url
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(f"ams-{NEW}")
    assert limit.slot_decay_per_second == pytest.approx(1000 / 3600, rel=1e-3)

    code, again = _onboard(stack)
    assert code == 2 and "--overwrite" in again
    code, again = _onboard(stack, "--overwrite")
    assert code == 0, again
    assert again.count("already subscribed") == 2 and "already registered" in again
    with stack.returnly() as returnly:
        assert len(returnly.list_webhooks()) == 2


def test_onboard_with_a_bad_token_saves_and_subscribes_nothing(
    stack: Stack, onboarded_cleanup: None
) -> None:
    code, output = _onboard(stack, ams_token="wrong-token-for-this-test")
    assert code == 1
    assert "FAIL ams credentials" in output and "wrong-token" not in output
    assert "block was not saved" in output
    with stack.returnly() as returnly:
        assert returnly.list_webhooks() == []
    reset_runtime()
    with pytest.raises(LookupError):
        load_merchant(NEW)


def test_onboard_check_isolates_a_failing_merchant(stack: Stack, onboarded_cleanup: None) -> None:
    code, output = _onboard(stack)
    assert code == 0, output
    assert onboard_check(merchant=NEW, receiver_url=stack.sink_url)[NEW][-1].ok
    with pytest.raises(RuntimeError) as failed:
        onboard_check(merchant=f"{NEW},{MERCHANT}")  # the sandbox merchant has no webhooks
    assert MERCHANT in str(failed.value) and NEW not in str(failed.value)
    artifact = Artifact.get(f"onboard-check-{NEW}-{MERCHANT}")
    assert artifact is not None and "1 of 2 merchants OK" in str(artifact.description)


# --- deploy step and rate limits -------------------------------------------------------


def test_deploy_step_creates_the_pool_and_rate_limits() -> None:
    try:
        report = deploy(merchants=["rl-test"], limits=RateLimits(1800, 7200, 4), skip_deploy=True)
        assert report.limits["ams-rl-test"].startswith("created (4 burst, 1800/hour)")
        with get_client(sync_client=True) as client:
            assert client.read_work_pool(report.work_pool).type == "process"
            limit = client.read_global_concurrency_limit_by_name("returnly-rl-test")
        assert (limit.limit, limit.slot_decay_per_second) == (4, 2.0)
        again = deploy(merchants=["rl-test"], limits=RateLimits(1800, 7200, 4), skip_deploy=True)
        assert not again.pool_created and again.limits["ams-rl-test"].startswith("unchanged")
    finally:
        _delete_limits("ams-rl-test", "returnly-rl-test")


def _timed_calls(n: int) -> float:
    reset_runtime()
    ams = ams_client(load_merchant(MERCHANT))
    started = time.monotonic()
    for _ in range(n):
        ams.list_callbacks()
    return time.monotonic() - started


def test_clients_take_rate_limit_slots_only_when_the_limit_exists(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    assert _timed_calls(9) < 1.5  # no limit: no wait and no "do not exist" warning
    assert "do not exist" not in caplog.text
    name = f"ams-{MERCHANT}"
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, 1, slot_decay_per_second=4.0)
    try:
        assert _timed_calls(9) >= 1.5  # one slot per request, 4 per second
    finally:
        _delete_limits(name)
        reset_runtime()


# --- fail loudly, not open: a missing rate limit is said once and fails onboard-check ------


def test_missing_rate_limit_warns_once_per_merchant(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 10 item 5: a merchant without its limit ran unthrottled and nobody was told.
    Fails on the code before (no warning at all)."""
    caplog.set_level(logging.WARNING, logger="runtime.rate_gate")
    _timed_calls(6)  # six AMS requests, so six passes through the gate

    said = [r.getMessage() for r in caplog.records if "not throttled" in r.getMessage()]
    assert len(said) == 1, said
    assert f"rate limit ams-{MERCHANT} is missing" in said[0]


def test_onboard_check_fails_a_merchant_without_rate_limits(
    stack: Stack, onboarded_cleanup: None
) -> None:
    """Fails on the code before: onboard-check passed a merchant with no rate limits."""
    code, output = _onboard(stack)
    assert code == 0, output
    _delete_limits(f"ams-{NEW}")
    reset_runtime()

    with pytest.raises(RuntimeError, match=NEW):
        onboard_check(merchant=NEW, receiver_url=stack.sink_url)

    artifact = Artifact.get(f"onboard-check-{NEW}")
    assert artifact is not None and f"rate limit ams-{NEW}" in str(artifact.data)
    cli = CliRunner().invoke(
        app, ["onboard-check", "--merchant", NEW, "--receiver-url", stack.sink_url]
    )
    assert cli.exit_code == 1, cli.output
    assert f"FAIL rate limit ams-{NEW}: is missing" in cli.output
    assert f"ok   rate limit returnly-{NEW}" in cli.output
