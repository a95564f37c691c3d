"""The demo's story: seed returns, let webhooks drive intake, drive the warehouse, let refunds flow.

Each step talks to the sandboxes only through their public and admin HTTP APIs, exactly as a
merchant's Returnly account and a MasonHub warehouse would behave.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from clients.ams import AmsClient, CallbackCreate, DataFactoryEvent
from clients.returnly import ReturnlyClient
from core.merchant import MerchantConfig
from ledger import Ledger
from stages import names

logger = logging.getLogger(__name__)

_FULL: tuple[DataFactoryEvent, bool] = ("receiveFull", False)
WAREHOUSE_PLAN: list[tuple[DataFactoryEvent, bool]] = [
    *[_FULL] * 12,
    ("receivePartial", False),
    ("receivePartial", False),
    ("receiveFull", True),  # randomized inventory statuses: damaged, quarantine...
    ("receiveFull", True),
    ("receiveUnexpected", False),
    ("undeliverable", False),
    ("inTransit", False),
    ("tendered", False),
]
"""Cycled over the created RMAs: mostly full receipts, and every other case a few times."""
CANCEL_EVERY = 25
"""Every Nth authorized return is cancelled by the merchant before it ships."""


@dataclass
class ScenarioReport:
    """What the scenario did, for the summary."""

    seeded: int = 0
    authorized: int = 0
    cancelled_before_shipping: list[str] = field(default_factory=list)
    cancelled_after_shipping: list[str] = field(default_factory=list)
    warehouse_events: dict[str, int] = field(default_factory=dict)


def subscribe(
    merchant: MerchantConfig, receiver_url: str, returnly: ReturnlyClient, ams: AmsClient
) -> None:
    """Point Returnly webhooks and the AMS rmaEvent callback at the receiver."""
    secret = merchant.returnly_webhook_secret.get_secret_value()
    for event in ("return.authorized", "return.canceled_by_merchant"):
        returnly.create_webhook(
            url=f"{receiver_url}/webhooks/returnly/{merchant.name}", event=event, secret=secret
        )
    ams.register_callbacks(
        [
            CallbackCreate(
                url=f"{receiver_url}/webhooks/ams/{merchant.name}",
                message_type="rmaEvent",
                api_version="2.0",
                token=merchant.ams_callback_token,
            )
        ]
    )


def wait_until(what: str, done: Callable[[], bool], timeout_s: float, poll_s: float = 0.5) -> bool:
    """Poll ``done`` until true or the timeout; says which in the log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(poll_s)
    logger.warning("gave up waiting for %s after %.0fs", what, timeout_s)
    return False


def seed_and_authorize(
    returnly_url: str, returnly: ReturnlyClient, count: int, seed: int
) -> tuple[int, list[str]]:
    """Seed returns, then move each from requested to authorized so a webhook fires."""
    with httpx.Client(base_url=returnly_url, timeout=60) as admin:
        admin.post("/_admin/seed", json={"count": count, "seed": seed}).raise_for_status()
        ids = [r.id for r in returnly.list_returns() if r.status == "authorized"]
        for rid in ids:
            admin.post(f"/_admin/returns/{rid}/status", json={"status": "requested"})
            admin.post(f"/_admin/returns/{rid}/status", json={"status": "authorize"})
    return count, ids


def cancel(returnly_url: str, return_ids: list[str]) -> None:
    """The merchant cancels these returns in Returnly."""
    with httpx.Client(base_url=returnly_url, timeout=60) as admin:
        for rid in return_ids:
            admin.post(f"/_admin/returns/{rid}/status", json={"status": "cancel"})


def drive_warehouse(ledger: Ledger, merchant: str, ams: AmsClient, report: ScenarioReport) -> None:
    """Move every created RMA through the DataFactory following :data:`WAREHOUSE_PLAN`."""
    links = ledger.links_in_stage(merchant, {names.RMA_CREATED})
    shipped_then_cancelled = 0
    for n, link in enumerate(sorted(links, key=lambda lk: int(lk.return_id))):
        event, randomize = WAREHOUSE_PLAN[n % len(WAREHOUSE_PLAN)]
        cid = link.customer_identifier
        if event.startswith("receive"):
            ams.trigger_rma_event(cid, "inTransit")
        ams.trigger_rma_event(cid, event, randomize_inventory_statuses=randomize)
        key = f"{event}{' (randomized)' if randomize else ''}"
        report.warehouse_events[key] = report.warehouse_events.get(key, 0) + 1
        if event == "inTransit" and shipped_then_cancelled < 2:
            report.cancelled_after_shipping.append(link.return_id)
            shipped_then_cancelled += 1
