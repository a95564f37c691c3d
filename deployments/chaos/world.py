"""The outside world during a chaos run: the merchant in Returnly, the warehouse in AMS.

Seeding, authorizing (each authorization fires a signed webhook) and cancelling go through the
Returnly sandbox's admin routes; the warehouse acts through the AMS DataFactory
(``POST /data_factory/rmaEvent``, batched, as :func:`deployments.scenario.drive_warehouse`
does one at a time), which sends the rmaEvent callbacks. Neither is faulted: they are what
happens to the bridge, not calls the bridge makes. Counts read the sandboxes' in-process stores.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from core.mapping import customer_identifier_for
from core.settings import SANDBOX_AMS_TOKEN
from deployments.chaos.plan import CANCELLED_AFTER, ChaosPlan
from deployments.chaos.stack import ChaosStack

logger = logging.getLogger(__name__)

EVENT_BATCH = 30
"""The DataFactory takes at most 30 events per request, like every AMS write."""
RECEIVE = ("receiveFull", "receivePartial", "receiveUnexpected")
ADMIN_TIMEOUT_S = 120.0


@dataclass
class WorldLog:
    """What the world did, for the summary."""

    seeded: int = 0
    authorized_sent: int = 0
    cancelled_before: list[str] = field(default_factory=list)
    cancelled_after: list[str] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=dict)
    """DataFactory events applied, by slot."""
    refused: dict[str, int] = field(default_factory=dict)
    """DataFactory refusals by reason (e.g. the RMA is not there yet)."""


class World:
    """Drives both sandboxes; thread-safe counters, one warehouse pass at a time."""

    def __init__(self, stack: ChaosStack) -> None:
        self.stack = stack
        self.log = WorldLog()
        self.acted: set[str] = set()
        """Returns the warehouse has finished with (their slot's events applied)."""
        self.in_transit: set[str] = set()
        self.cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._admin = httpx.Client(base_url=stack.returnly_url, timeout=ADMIN_TIMEOUT_S)
        self._ams = httpx.Client(
            base_url=stack.ams_api_url,
            timeout=ADMIN_TIMEOUT_S,
            headers={"Authorization": f"Bearer {SANDBOX_AMS_TOKEN}"},
        )

    def close(self) -> None:
        """Close the HTTP clients."""
        self._admin.close()
        self._ams.close()

    # --- Returnly: the merchant -----------------------------------------------------------

    def seed(self, count: int, seed: int) -> list[str]:
        """Seed returns and put the authorized ones back to ``requested`` (no webhook yet:
        nothing is subscribed); answers their ids, which the run then authorizes."""
        self._admin.post("/_admin/seed", json={"count": count, "seed": seed}).raise_for_status()
        self.log.seeded = count
        store = self.stack.returnly_app.state.store
        ids = [rec.id for rec in store.all_records() if rec.status == "authorized"]
        for rid in ids:
            self._status(rid, "requested")
        return ids

    def _status(self, return_id: str, status: str) -> None:
        response = self._admin.post(f"/_admin/returns/{return_id}/status", json={"status": status})
        response.raise_for_status()

    def authorize(self, ids: Iterable[str], stop: threading.Event) -> None:
        """Authorize each return (the webhook burst), counting as it goes."""
        for rid in ids:
            if stop.is_set():
                return
            self._status(rid, "authorize")
            with self._lock:
                self.log.authorized_sent += 1

    def cancel(self, return_id: str, after_shipping: bool) -> None:
        """The merchant cancels a return in Returnly (a webhook goes out)."""
        self._status(return_id, "cancel")
        with self._lock:
            self.cancelled.add(return_id)
            target = self.log.cancelled_after if after_shipping else self.log.cancelled_before
            target.append(return_id)

    # --- AMS: the warehouse -----------------------------------------------------------------

    def live_rma(self, return_id: str) -> dict[str, Any] | None:
        """The live RMA of a return in the AMS sandbox, or None."""
        rec: dict[str, Any] | None = self.stack.ams_app.state.store.live(
            customer_identifier_for(return_id)
        )
        return rec

    def _events(self, items: list[tuple[str, str, bool]]) -> dict[str, str | None]:
        """One DataFactory POST; answers return id -> None (applied) or the refusal text."""
        body = [
            {
                "customer_identifier": customer_identifier_for(rid),
                "event": event,
                "randomize_inventory_statuses": randomize,
            }
            for rid, event, randomize in items
        ]
        response = self._ams.post("/data_factory/rmaEvent", json=body)
        response.raise_for_status()
        out: dict[str, str | None] = {}
        for (rid, _event, _r), result in zip(items, response.json()["results"], strict=True):
            if result.get("status") == "success":
                out[rid] = None
            else:
                errors = [e for m in result.get("messages", []) for e in m.get("errors", [])]
                out[rid] = "; ".join(errors) or "refused"
        return out

    def _refused(self, return_id: str, reason: str) -> None:
        key = "not there yet" if reason.startswith("404") else reason.split(";")[0][:60]
        self.log.refused[key] = self.log.refused.get(key, 0) + 1
        if key != "not there yet":
            logger.info("the warehouse could not act on return %s: %s", return_id, reason)

    def warehouse_pass(self, plan: ChaosPlan) -> int:
        """Act on every planned return whose RMA is live and not yet acted on; answers how
        many were finished. Cancels before shipping once the RMA exists, after once shipped."""
        for rid in plan.cancelled_before:
            if rid not in self.cancelled and self.live_rma(rid) is not None:
                self.cancel(rid, after_shipping=False)
        ready = [
            rid for rid in plan.shipped if rid not in self.acted and self.live_rma(rid) is not None
        ]
        finished = 0
        for start in range(0, len(ready), EVENT_BATCH):
            finished += self._act(plan, ready[start : start + EVENT_BATCH])
        return finished

    def _act(self, plan: ChaosPlan, batch: list[str]) -> int:
        ship = [(r, "inTransit", False) for r in batch if plan.events[r][0] in RECEIVE]
        ship = [item for item in ship if item[0] not in self.in_transit]
        for rid, reason in self._events(ship).items() if ship else ():
            if reason is None:
                self.in_transit.add(rid)
            else:
                self._refused(rid, reason)
        final = [
            (r, *plan.events[r])
            for r in batch
            if plan.events[r][0] not in RECEIVE or r in self.in_transit
        ]
        finished = 0
        for rid, reason in self._events(final).items() if final else ():
            if reason is not None:
                self._refused(rid, reason)
                continue
            finished += 1
            self.acted.add(rid)
            slot = plan.slots[rid]
            self.log.events[slot] = self.log.events.get(slot, 0) + 1
            if slot == CANCELLED_AFTER:
                self.cancel(rid, after_shipping=True)
        return finished
