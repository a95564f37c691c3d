"""Artifacts written through Prefect's client, in a run or outside one, and whether a Prefect API is
there at all.

Prefect's ``create_*_artifact`` helpers warn (a deprecation FutureWarning) when called outside
a flow or task run, which the shell commands and the demo and chaos drivers do. This sends what
those helpers send, linked to the current flow or task run when there is one.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID


def prefect_available() -> bool:
    """True when a Prefect API is configured (else the review queue and the budget live in the
    ledger only)."""
    from prefect.settings import get_current_settings

    return bool(get_current_settings().api.url)


def publish_artifact(kind: str, key: str | None, data: Any, description: str) -> UUID:
    """Create an artifact of ``kind`` (``table``, ``markdown``, ``progress``...); its id."""
    # Prefect imported here, not at module import: the demo and chaos drivers import this
    # before they point Prefect's settings (read on import) at the server they start.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import ArtifactCreate
    from prefect.utilities.context import get_task_and_flow_run_ids

    task_run_id, flow_run_id = get_task_and_flow_run_ids()
    with get_client(sync_client=True) as client:
        artifact = client.create_artifact(
            ArtifactCreate(
                key=key,
                type=kind,
                description=description,
                data=data,
                flow_run_id=flow_run_id,
                task_run_id=task_run_id,
            )
        )
    return artifact.id


def artifact_key(*parts: str, squeeze: bool = False) -> str:
    """The parts joined by dashes as an artifact key: lowercase letters, digits, dashes only.

    ``squeeze`` also folds runs of dashes into one (the review queue's and the budget's keys
    always did; the others never did, and changing either would move existing artifacts).
    """
    key = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower())
    if squeeze:
        key = re.sub(r"-{2,}", "-", key)
    return key.strip("-")
