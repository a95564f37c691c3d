"""Shared constants and helpers for the webhook receiver tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.settings import SANDBOX_ACCOUNT
from ledger import InboxMessage, Ledger
from tests.support.dispatch import RecordingDispatcher

MERCHANT = SANDBOX_ACCOUNT
WEBHOOK_SECRET = "whsec-test-0b7c2f9e-very-secret"
CALLBACK_TOKEN = "cb-token-test-91d3-very-secret"
WRONG_SECRET = "whsec-wrong-77aa-also-secret"
WRONG_TOKEN = "cb-token-wrong-55ee-also-secret"
SECRETS = (WEBHOOK_SECRET, CALLBACK_TOKEN, WRONG_SECRET, WRONG_TOKEN)


@dataclass
class Receiver:
    """A running receiver with its ledger and recording dispatcher."""

    url: str
    ledger: Ledger
    dispatcher: RecordingDispatcher

    def returnly_url(self, merchant: str = MERCHANT) -> str:
        """Where Returnly deliveries for ``merchant`` go."""
        return f"{self.url}/webhooks/returnly/{merchant}"

    def ams_url(self, merchant: str = MERCHANT) -> str:
        """Where AMS callbacks for ``merchant`` go."""
        return f"{self.url}/webhooks/ams/{merchant}"


def inbox_rows(ledger: Ledger, status: str | None = None) -> list[InboxMessage]:
    """Every inbox row (optionally of one status), oldest first."""
    query = select(InboxMessage).order_by(InboxMessage.id)
    if status is not None:
        query = query.where(InboxMessage.status == status)
    with Session(ledger.engine) as session:
        return list(session.scalars(query))


def payload(row: InboxMessage) -> dict[str, Any]:
    """A row's payload, which the receiver always stores as an object."""
    assert isinstance(row.payload, dict)
    return row.payload


def dump_rows(rows: list[InboxMessage]) -> str:
    """All stored text of the rows, to search for leaked secrets."""
    return json.dumps(
        [
            {
                "message_id": r.message_id,
                "claimed": r.claimed_message_id,
                "merchant": r.merchant,
                "kind": r.kind,
                "subject": r.subject_id,
                "payload": r.payload,
                "error": r.error,
            }
            for r in rows
        ],
        default=str,
    )


def assert_no_secrets(*texts: str) -> None:
    """None of the test secrets appears in any of ``texts``."""
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll a condition that becomes true in a background thread (dispatch runs after the 2xx)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def signed_headers(
    body: bytes,
    *,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
    event: str | None = "return.authorized",
    delivery: str | None = None,
    prefix: str = "sha256=",
) -> dict[str, str]:
    """Headers of a Returnly delivery signed like the sandbox signs them."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Returnly-Timestamp": ts,
        "X-Returnly-Signature": f"{prefix}{mac}",
    }
    if event is not None:
        headers["X-Returnly-Event"] = event
    if delivery is not None:
        headers["X-Returnly-Delivery"] = delivery
    return headers


def return_delivery(
    return_id: str = "1001", event: str = "return.authorized", delivery_id: str = "d-1"
) -> dict[str, Any]:
    """A minimal but complete delivery body (what the sandbox sends, fewer fields)."""
    return {
        "id": delivery_id,
        "event": event,
        "created_at": "2026-11-26T10:00:00Z",
        "data": {
            "data": {
                "type": "returns",
                "id": return_id,
                "attributes": {
                    "rma": f"R{return_id}",
                    "status": event.removeprefix("return."),
                    "created_at": "2026-11-25T10:00:00Z",
                    "updated_at": "2026-11-26T09:59:00Z",
                },
            }
        },
    }


def post_json(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """One POST of raw bytes."""
    return httpx.post(url, content=body, headers=headers, timeout=10)
