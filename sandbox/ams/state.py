"""Everything one AMS sandbox app holds, reachable from routes as ``request.app.state.sandbox``."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from sandbox.ams.delivery import Deliverer, Outbound
from sandbox.ams.store import CallbackStore, RmaStore
from sandbox.ams.warehouse import v1_item, v2_item
from sandbox.faults import FaultConfig, FaultState
from sandbox.requestlog import RequestLog


@dataclass
class AmsSandbox:
    """The sandbox's account, token, stores, delivery queue, faults and seeded RNG."""

    account: str
    api_token: str
    seed: int
    store: RmaStore
    callbacks: CallbackStore
    deliverer: Deliverer
    faults: FaultState

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.labels = 0
        self.requests = RequestLog()
        """API requests seen (method, path, status), so tests can prove what reached us."""

    def reset(self) -> None:
        """Back to an empty account with the original seed and no faults."""
        with self.store.lock:
            self.store.reset()
            self.callbacks.reset()
            self.deliverer.reset()
            self.faults.configure(FaultConfig())
            self.rng = random.Random(self.seed)
            self.labels = 0
            self.requests.clear()

    def tracking_number(self) -> str:
        """A DHL-eCommerce-looking tracking number, reproducible by seed."""
        self.labels += 1
        return f"9302020514{self.rng.randrange(10**11, 10**12)}"

    def rma_event_messages(self, rec: dict[str, Any], event: str) -> list[Outbound]:
        """One rmaEvent message per registered rmaEvent callback, in that callback's version."""
        as_of = self.store.now_iso()
        messages = []
        for reg in self.callbacks.list("rmaEvent"):
            item = v2_item(rec, event, as_of) if reg.api_version == "2.0" else v1_item(rec)
            envelope = {
                "callback_url": reg.url,
                "message_type": "rmaEvent",
                "message_id": str(uuid.uuid4()),
                "api_version": reg.api_version,
                "data": [item],
            }
            messages.append(Outbound(reg.url, "rmaEvent", envelope, reg.token))
        return messages


def sandbox_of(request: Request) -> AmsSandbox:
    """FastAPI dependency: the app's sandbox state."""
    state: AmsSandbox = request.app.state.sandbox
    return state
