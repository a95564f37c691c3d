"""The alerting automation: a bridge deployment run that fails, crashes or times out notifies.

Created by ``bridge deploy``. It covers every failure the README lists: a merchant's failure
(the run fails after the others are done, naming the merchant), reconciliation drift above
``fail_above``, ``onboard-check`` finding expired credentials or removed webhooks, and crashed
runs. Runs carry ``merchant:<name>`` tags (``flows.common``), so the message says whose it is.

With a notification block (``--alert-block <block-type-slug>/<name>``, e.g.
``slack-webhook/ops`` or ``custom-webhook/pager``) the action is ``send-notification`` to it.
Without one, a new automation gets a ``do-nothing`` action (its firings still show as
``prefect.automation.triggered`` events in the UI) and an existing one keeps its actions, so an
action chosen in the UI survives redeploys; the trigger always comes from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.events.actions import ActionTypesOrUnknown, DoNothing, SendNotification
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

AUTOMATION_NAME = "bridge-run-failed"
BRIDGE_TAG = "returns-bridge"
"""Every deployment in prefect.yaml carries it; runs inherit their deployment's tags."""
FAILED_EVENTS = frozenset(
    {"prefect.flow-run.Failed", "prefect.flow-run.Crashed", "prefect.flow-run.TimedOut"}
)
"""State *names* (TimedOut is a Failed type but emits its own event)."""
SUBJECT = "bridge: {{ flow.name }}/{{ flow_run.name }} {{ flow_run.state.name }}"
BODY = (
    "{{ flow.name }}/{{ flow_run.name }} entered {{ flow_run.state.name }}: "
    "{{ flow_run.state.message }}\n"
    "tags: {{ flow_run.tags | join(', ') }}\n"
    "flow run id: {{ flow_run.id }}"
)


@dataclass(frozen=True)
class AlertReport:
    """What happened to the automation, for the deploy step's output."""

    name: str
    verb: str
    """created or updated."""
    action: str

    def line(self) -> str:
        """Human-readable, one line."""
        return f"automation {self.name}: {self.verb} ({self.action})"


def failed_run_trigger() -> EventTrigger:
    """Fires once per failed, crashed or timed-out flow run tagged ``returns-bridge``."""
    return EventTrigger(
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related={
            "prefect.resource.role": "tag",
            "prefect.resource.id": f"prefect.tag.{BRIDGE_TAG}",
        },
        expect=set(FAILED_EVENTS),
        posture=Posture.Reactive,
        threshold=1,
        within=timedelta(0),
    )


def alert_automation(
    notification_block_id: UUID | None, keep_actions: list[ActionTypesOrUnknown] | None = None
) -> AutomationCore:
    """The automation: notify the block; else keep the given actions; else do nothing."""
    actions: list[ActionTypesOrUnknown]
    if notification_block_id:
        actions = [
            SendNotification(block_document_id=notification_block_id, subject=SUBJECT, body=BODY)
        ]
    else:
        actions = list(keep_actions or [DoNothing()])
    return AutomationCore(
        name=AUTOMATION_NAME,
        description="A returns-bridge run failed, crashed or timed out (merchant failure, "
        "drift above fail_above, onboard-check). Managed by `bridge deploy`.",
        trigger=failed_run_trigger(),
        actions=actions,
    )


def resolve_block(client: SyncPrefectClient, spec: str) -> UUID:
    """``<block-type-slug>/<name>`` -> the block document's id (a clear error if missing)."""
    slug, sep, name = spec.partition("/")
    if not sep or not slug or not name:
        raise ValueError(f"alert block {spec!r}: expected <block-type-slug>/<name>")
    from prefect.exceptions import ObjectNotFound

    try:
        return client.read_block_document_by_name(name, slug, include_secrets=False).id
    except ObjectNotFound:
        raise ValueError(f"alert block {spec!r} not found: save it first") from None


def ensure_alert_automation(notification_block: str | None = None) -> AlertReport:
    """Create or update the automation (idempotent: one automation by that name).

    The trigger is always refreshed from code; without ``notification_block`` the actions
    of an existing automation are kept (chosen in the UI, or by an earlier deploy).
    """
    with get_client(sync_client=True) as client:
        block_id = resolve_block(client, notification_block) if notification_block else None
        existing = client.read_automations_by_name(AUTOMATION_NAME)
        kept = list(existing[0].actions) if existing and block_id is None else None
        automation = alert_automation(block_id, kept)
        what = ", ".join(a.type for a in automation.actions)
        if block_id:
            what += f" to {notification_block}"
        if not existing:
            client.create_automation(automation)
            return AlertReport(AUTOMATION_NAME, "created", what)
        client.update_automation(existing[0].id, automation)
        for extra in existing[1:]:  # created by hand or by an older deploy: one is enough
            client.delete_automation(extra.id)
        return AlertReport(AUTOMATION_NAME, "updated", what + (", kept" if kept else ""))
