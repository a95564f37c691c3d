"""Every flow run that works for a merchant carries ``merchant:<name>``, whatever its outcome."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect import flow, tags
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.states import State

from core.settings import SANDBOX_ACCOUNT
from deployments.merchants import onboard_check
from flows.common import merchant_tag, tag_run_with_merchants
from flows.completion import completion
from flows.intake import intake
from flows.reconcile import reconcile
from flows.replay_return import replay_return
from tests.support.stack import Stack

MERCHANT = SANDBOX_ACCOUNT
OTHER = "tag-test-other"


def _run_tags(state: State[Any]) -> list[str]:
    run_id = state.state_details.flow_run_id
    assert run_id is not None
    with get_client(sync_client=True) as client:
        return list(client.read_flow_run(run_id).tags)


@pytest.fixture
def two_merchants(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sandbox merchant and a second one (a file source); the second's token is wrong."""
    good = stack.merchant()
    secrets = {
        "returnly_api_token": good.returnly_api_token.get_secret_value(),
        "returnly_webhook_secret": good.returnly_webhook_secret.get_secret_value(),
        "ams_api_token": good.ams_api_token.get_secret_value(),
        "ams_callback_token": good.ams_callback_token.get_secret_value(),
    }
    base = {**good.model_dump(mode="json"), **secrets}
    path = tmp_path / "merchants.json"
    path.write_text(json.dumps([base, {**base, "name": OTHER, "returnly_api_token": "wrong"}]))
    monkeypatch.setenv("BRIDGE_MERCHANTS_FILE", str(path))
    monkeypatch.setenv("BRIDGE_REPORTS_DIR", str(tmp_path / "reports"))
    return path


def test_a_stage_flow_run_is_tagged_with_its_merchant() -> None:
    with tags("kept-tag"):  # tags given by whoever started the run stay
        state = intake(merchant=MERCHANT, return_state=True)
    assert state.is_completed()
    assert set(_run_tags(state)) == {"kept-tag", merchant_tag(MERCHANT)}


def test_all_gets_one_tag_per_merchant_even_when_one_fails(two_merchants: Path) -> None:
    state = completion(merchant="all", return_state=True)
    assert state.is_completed()
    assert {merchant_tag(MERCHANT), merchant_tag(OTHER)} <= set(_run_tags(state))

    failed = intake(merchant="all", return_state=True)  # OTHER's token is refused
    assert failed.is_failed() and OTHER in str(failed.message)
    assert {merchant_tag(MERCHANT), merchant_tag(OTHER)} <= set(_run_tags(failed))


def test_reconcile_replay_and_onboard_check_runs_are_tagged(
    stack: Stack, two_merchants: Path
) -> None:
    recon = reconcile(merchant=MERCHANT, return_state=True)
    assert recon.is_completed()
    assert merchant_tag(MERCHANT) in _run_tags(recon)
    assert merchant_tag(OTHER) not in _run_tags(recon)  # only the merchants it worked for

    rid = str(stack.plant()["id"])
    replay = replay_return(merchant=MERCHANT, return_id=rid, dry_run=True, return_state=True)
    assert replay.is_completed()
    assert merchant_tag(MERCHANT) in _run_tags(replay)

    check = onboard_check(merchant=f"{MERCHANT},{OTHER}", return_state=True)
    assert check.is_failed()  # no webhooks subscribed, and OTHER's token is wrong
    assert {merchant_tag(MERCHANT), merchant_tag(OTHER)} <= set(_run_tags(check))


@flow(name="tag-helper-probe")
def _probe(names: list[str]) -> list[str]:
    first = tag_run_with_merchants(names)
    again = tag_run_with_merchants(names)  # idempotent: no duplicates
    assert first == again
    return first


def test_helper_merges_with_the_tags_on_the_server_and_returns_them() -> None:
    with tags("from-caller"):
        state = _probe(["a", "b"], return_state=True)
    returned = state.result()
    assert returned == _run_tags(state)
    assert returned.count(merchant_tag("a")) == 1
    assert set(returned) == {"from-caller", "merchant:a", "merchant:b"}


def test_outside_a_flow_run_the_helper_does_nothing() -> None:
    assert tag_run_with_merchants([MERCHANT]) == []


def test_a_tagging_failure_is_logged_and_the_run_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(self: SyncPrefectClient, flow_run_id: UUID, **kwargs: object) -> None:
        raise RuntimeError("API refused the update (test)")

    # A mock: a real server does not refuse a tag update on demand.
    monkeypatch.setattr(SyncPrefectClient, "update_flow_run", refuse)
    caplog.set_level(logging.WARNING)
    state = intake(merchant=MERCHANT, return_state=True)
    assert state.is_completed()
    assert merchant_tag(MERCHANT) not in _run_tags(state)
    assert "could not tag the run" in caplog.text
