"""A flow that says which worker ran it and for which merchant (work-queue routing tests)."""

from __future__ import annotations

import os
from pathlib import Path

from prefect import flow
from prefect.runtime import flow_run


@flow(name="which-worker")
def which_worker(merchant: str = "all") -> str:
    """Write ``<worker> <merchant>`` to ``$PROBE_DIR/<flow run id>`` and return it."""
    said = f"{os.environ.get('PROBE_WORKER', '?')} {merchant}"
    Path(os.environ["PROBE_DIR"], str(flow_run.get_id())).write_text(said, encoding="utf-8")
    return said
