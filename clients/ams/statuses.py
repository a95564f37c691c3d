"""The AMS status vocabulary in one table: each RMA status and rmaEvent name, its canonical
spelling, the drift phase it folds into and the ledger stage it puts a return in.

Statuses stay opaque strings at the boundary (``Rma.status``; contracts §B.9: sources
disagree on the set and the case). Every other module imports its sets and lookups from here:
``clients.ams`` (status sets, event names), ``core.drift`` (phases), ``tasks`` (stages, the
reconciliation's open statuses). It sits in ``clients`` because that is the lowest room
(pyproject's layer contracts): the client's own models need it too. The ledger stage names are
here for the same reason: the table maps onto them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class Stage(StrEnum):
    """A return's stage as the ledger records it (the ``links.stage`` column: plain text)."""

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


@dataclass(frozen=True)
class AmsStatus:
    """One AMS RMA status (or rmaEvent name) and what the bridge makes of it."""

    name: str
    """The canonical spelling (as the spec writes it)."""
    phase: str
    """The drift phase (``core.drift.statuses.A_PHASES``)."""
    stage: Stage
    """The ledger stage a return whose RMA has this status is in."""
    editable: bool = False
    """PUT is allowed (MD:returns)."""
    event: bool = True
    """An rmaEvent callback names it (spec text and examples)."""
    expecting: bool = True
    """The RMA still expects goods or a decision (``received`` and ``deleted`` are final)."""


OPEN: Final = "open"
RECEIVED: Final = "received"
DELETED: Final = "deleted"

AMS_STATUSES: Final[tuple[AmsStatus, ...]] = (
    AmsStatus(OPEN, "open", Stage.RMA_CREATED, editable=True, event=False),
    AmsStatus("tendered", "in_transit", Stage.IN_TRANSIT, editable=True),
    AmsStatus("inTransit", "in_transit", Stage.IN_TRANSIT, editable=True),
    AmsStatus("delivered", "arrived", Stage.IN_TRANSIT),
    AmsStatus("onDock", "arrived", Stage.IN_TRANSIT),
    AmsStatus("in-receiving", "receiving", Stage.IN_TRANSIT),
    AmsStatus("receivingStarted", "receiving", Stage.IN_TRANSIT),
    AmsStatus("undeliverable", "undeliverable", Stage.UNDELIVERABLE),
    AmsStatus(RECEIVED, "received", Stage.RECEIVED, expecting=False),
    AmsStatus(DELETED, "deleted", Stage.CANCELLED, event=False, expecting=False),
)
"""Every RMA status any source names (§B.9), in lifecycle order."""

_BY_KEY: Final = {s.name.strip().lower(): s for s in AMS_STATUSES}


def ams_status(status: str | None) -> AmsStatus | None:
    """The table row of a status in any case (``INTRANSIT`` is ``inTransit``); None: unknown."""
    if not status:
        return None
    return _BY_KEY.get(status.strip().lower())


def ams_stage(status: str | None) -> Stage | None:
    """The ledger stage an AMS RMA status puts a return in (None: unknown status)."""
    row = ams_status(status)
    return row.stage if row else None


def is_ams_status(status: str | None, name: str) -> bool:
    """Whether ``status`` is the status ``name`` in any spelling of it."""
    row = ams_status(status)
    return row is not None and row.name == name


RMA_STATUSES: Final = frozenset(s.name for s in AMS_STATUSES)
EDITABLE_STATUSES: Final = frozenset(s.name for s in AMS_STATUSES if s.editable)
"""PUT is allowed only in these statuses (MD:returns)."""
RMA_EVENT_NAMES: Final = frozenset(s.name for s in AMS_STATUSES if s.event)
"""Event names the spec text and examples use; others are passed through unchanged."""
AMS_OPEN_STATUSES: Final = tuple(s.name for s in AMS_STATUSES if s.expecting)
"""AMS statuses of an RMA still expecting goods or a decision (received and deleted are final)."""
AMS_STATUS_PHASE: Final = {s.name: s.phase for s in AMS_STATUSES}
"""Canonical status -> drift phase."""
