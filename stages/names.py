"""Stage names recorded in the ledger and the groups the stages use (the names and how AMS
statuses map onto them: :mod:`clients.ams.statuses`)."""

from __future__ import annotations

from clients.ams.statuses import Stage
from clients.ams.statuses import ams_stage as stage_for_ams_status

INTAKE_EXCEPTION = Stage.INTAKE_EXCEPTION
RMA_CREATED = Stage.RMA_CREATED
IN_TRANSIT = Stage.IN_TRANSIT
UNDELIVERABLE = Stage.UNDELIVERABLE
RECEIVED = Stage.RECEIVED
REFUNDED = Stage.REFUNDED
PARTIALLY_REFUNDED = Stage.PARTIALLY_REFUNDED
HELD = Stage.HELD
CANCELLED = Stage.CANCELLED
CANCEL_EXCEPTION = Stage.CANCEL_EXCEPTION

OPEN_STAGES = frozenset({RMA_CREATED, IN_TRANSIT, UNDELIVERABLE})
"""Links whose RMA the arrival poll still watches."""
INTAKE_DONE_STAGES = frozenset(
    {RMA_CREATED, IN_TRANSIT, UNDELIVERABLE, RECEIVED, REFUNDED, PARTIALLY_REFUNDED, HELD}
)

__all__ = [
    "CANCELLED",
    "CANCEL_EXCEPTION",
    "HELD",
    "INTAKE_DONE_STAGES",
    "INTAKE_EXCEPTION",
    "IN_TRANSIT",
    "OPEN_STAGES",
    "PARTIALLY_REFUNDED",
    "RECEIVED",
    "REFUNDED",
    "RMA_CREATED",
    "UNDELIVERABLE",
    "Stage",
    "stage_for_ams_status",
]
