"""Stage names recorded in the ledger, and how AMS statuses map onto them."""

from __future__ import annotations

INTAKE_EXCEPTION = "intake_exception"
RMA_CREATED = "rma_created"
IN_TRANSIT = "in_transit"
UNDELIVERABLE = "undeliverable"
RECEIVED = "received"
REFUNDED = "refunded"
PARTIALLY_REFUNDED = "partially_refunded"
HELD = "held"
CANCELLED = "cancelled"
CANCEL_EXCEPTION = "cancel_exception"

OPEN_STAGES = frozenset({RMA_CREATED, IN_TRANSIT, UNDELIVERABLE})
"""Links whose RMA the arrival poll still watches."""
INTAKE_DONE_STAGES = frozenset(
    {RMA_CREATED, IN_TRANSIT, UNDELIVERABLE, RECEIVED, REFUNDED, PARTIALLY_REFUNDED, HELD}
)

_AMS_STATUS_STAGE = {
    "open": RMA_CREATED,
    "tendered": IN_TRANSIT,
    "intransit": IN_TRANSIT,
    "delivered": IN_TRANSIT,
    "ondock": IN_TRANSIT,
    "receivingstarted": IN_TRANSIT,
    "in-receiving": IN_TRANSIT,
    "undeliverable": UNDELIVERABLE,
    "received": RECEIVED,
    "deleted": CANCELLED,
}


def stage_for_ams_status(status: str | None) -> str | None:
    """The ledger stage an AMS RMA status puts a return in (None: unknown status)."""
    if not status:
        return None
    return _AMS_STATUS_STAGE.get(status.strip().lower())
