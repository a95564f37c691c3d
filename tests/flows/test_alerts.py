"""The alert automation ``bridge deploy`` creates, against the session's Prefect server.

That it fires on a real failed deployment run is proven by tests/e2e/test_real_server.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.events.actions import DoNothing, SendNotification
from prefect.events.schemas.automations import ResourceSpecification

from deployments.alerts import (
    AUTOMATION_NAME,
    BRIDGE_TAG,
    FAILED_EVENTS,
    ensure_alert_automation,
)
from deployments.deploy import deploy

BLOCK = "alerts-unit-test"


@pytest.fixture
def clean() -> Iterator[None]:
    """No alert automation before or after; the test's webhook block is deleted after."""

    def drop() -> None:
        with get_client(sync_client=True) as client:
            for automation in client.read_automations_by_name(AUTOMATION_NAME):
                client.delete_automation(automation.id)

    drop()
    yield
    drop()
    with contextlib.suppress(ValueError):
        CustomWebhookNotificationBlock.delete(BLOCK)


def _only() -> tuple[list[object], object]:
    with get_client(sync_client=True) as client:
        found = client.read_automations_by_name(AUTOMATION_NAME)
    assert len(found) == 1, found
    return list(found[0].actions), found[0].trigger


def test_created_idempotent_and_a_block_becomes_the_action(clean: None) -> None:
    first = ensure_alert_automation()
    assert first.line() == f"automation {AUTOMATION_NAME}: created (do-nothing)"
    actions, trigger = _only()
    assert [type(a) for a in actions] == [DoNothing]
    assert trigger.expect == set(FAILED_EVENTS)  # type: ignore[attr-defined]
    assert trigger.match_related == ResourceSpecification(  # type: ignore[attr-defined]
        {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{BRIDGE_TAG}"}
    )
    assert ensure_alert_automation().verb == "updated"
    _only()  # still one

    saved = CustomWebhookNotificationBlock(name="ops", url="http://127.0.0.1:9/alerts").save(BLOCK)
    report = ensure_alert_automation(f"custom-webhook/{BLOCK}")
    assert report.line() == (
        f"automation {AUTOMATION_NAME}: updated (send-notification to custom-webhook/{BLOCK})"
    )
    (action,), _ = _only()
    assert isinstance(action, SendNotification) and action.block_document_id == saved
    assert "{{ flow_run.tags" in action.body and "{{ flow_run.state.message }}" in action.body

    # A deploy without a block keeps the notification (chosen earlier, or in the UI).
    kept = deploy(merchants=[], skip_deploy=True)
    assert kept.alert.endswith("(send-notification, kept)")
    (action,), _ = _only()
    assert isinstance(action, SendNotification)


@pytest.mark.parametrize(
    ("spec", "error"),
    [("no-slash", "expected <block-type-slug>/<name>"), ("custom-webhook/nope", "not found")],
)
def test_a_bad_alert_block_is_a_clear_error(clean: None, spec: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        ensure_alert_automation(spec)
    with get_client(sync_client=True) as client:
        assert client.read_automations_by_name(AUTOMATION_NAME) == []
