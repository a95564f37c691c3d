"""Nightly reconciliation steps: fetch both sides into drift frames, report, heal.

Plain functions (no Prefect) are re-exported here; the Prefect tasks live in
:mod:`tasks.reconcile.tasks` and the flow in ``flows/reconcile.py``.
"""

from clients.ams.statuses import AMS_OPEN_STATUSES
from stages.reconcile.ams_frame import (
    WAREHOUSE_IDENTITY_PREFIX,
    RmaSink,
    identity_of,
    rma_rows,
    rmas_frame,
)
from stages.reconcile.chart import (
    drift_chart_png,
    markdown_chart,
    markdown_speed_chart,
    png_data_url,
    speed_chart_png,
)
from stages.reconcile.exceptions_frame import exception_identity, exceptions_frame, open_exceptions
from stages.reconcile.fetch import FetchTimings, Sides, fetch_sides, return_id_for_identifier
from stages.reconcile.heal import HEAL_ACTIONS, NEVER_HEAL, heal, plan_healing
from stages.reconcile.history import Night, previous_counts, previous_drift, trend
from stages.reconcile.ledger_frame import ledger_frame, read_links, refunded_return_ids
from stages.reconcile.models import (
    THRESHOLD_KEYS,
    HealStep,
    MerchantReconcile,
    ReconcileResult,
    check_fail_above,
)
from stages.reconcile.report import (
    Counts,
    Tonight,
    counts_of,
    report_dir,
    report_markdown,
    table_rows,
    write_report,
)
from stages.reconcile.returnly_frame import ReturnSink, return_rows, returns_frame, split_refunds
from stages.reconcile.run import Frames, build_frames, detect_drift, fetch_frames, thresholds_for
from stages.reconcile.window import (
    RETURNLY_OPEN_STATUSES,
    Window,
)

__all__ = [
    "AMS_OPEN_STATUSES",
    "HEAL_ACTIONS",
    "NEVER_HEAL",
    "RETURNLY_OPEN_STATUSES",
    "THRESHOLD_KEYS",
    "WAREHOUSE_IDENTITY_PREFIX",
    "Counts",
    "FetchTimings",
    "Frames",
    "HealStep",
    "MerchantReconcile",
    "Night",
    "ReconcileResult",
    "ReturnSink",
    "RmaSink",
    "Sides",
    "Tonight",
    "Window",
    "build_frames",
    "check_fail_above",
    "counts_of",
    "detect_drift",
    "drift_chart_png",
    "exception_identity",
    "exceptions_frame",
    "fetch_frames",
    "fetch_sides",
    "heal",
    "identity_of",
    "ledger_frame",
    "markdown_chart",
    "markdown_speed_chart",
    "open_exceptions",
    "plan_healing",
    "png_data_url",
    "previous_counts",
    "previous_drift",
    "read_links",
    "refunded_return_ids",
    "report_dir",
    "report_markdown",
    "return_id_for_identifier",
    "return_rows",
    "returns_frame",
    "rma_rows",
    "rmas_frame",
    "speed_chart_png",
    "split_refunds",
    "table_rows",
    "thresholds_for",
    "trend",
    "write_report",
]
