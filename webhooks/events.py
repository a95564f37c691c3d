"""Prefect events for inbox messages, posted straight to ``$PREFECT_API_URL/events``.

``prefect.events.emit_event`` is fire-and-forget and drops events while the API is down
(PREFECT_NOTES §4), so the receiver posts itself and raises on failure: the message then
stays ``pending`` and the sweeper emits it again. The event id is a uuid5 of the message,
so Prefect drops a repeat it has seen recently (its dedupe window is 5 minutes).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from ledger.inbox import SOURCE_AMS, SOURCE_RETURNLY

EVENTS_TIMEOUT_S = 5.0
"""Timeout of the events POST (it runs after the 2xx, off the sender's clock)."""


def event_id(source: str, message_id: str, attempt: int = 0) -> uuid.UUID:
    """Stable id of the event for one hand-off of an inbox message (Prefect dedupes on it).

    A repeat of the same hand-off (its answer was lost) keeps the id and is dropped by
    Prefect; a re-dispatch (``attempt`` > 0) needs a new id, because Prefect's triggers
    ignore an event id they have seen in the last 30 minutes.
    """
    name = f"{source}/{message_id}" if attempt == 0 else f"{source}/{message_id}#{attempt}"
    return uuid.uuid5(uuid.NAMESPACE_URL, name)


def event_name(source: str, kind: str) -> str:
    """Prefixed by system: ``returnly.return.authorized``, ``ams.rma.received``.

    The source prefix keeps the two systems apart in trigger ``expect`` patterns.
    """
    if source == SOURCE_RETURNLY:
        return f"returnly.{kind}"
    if source == SOURCE_AMS:
        return f"ams.rma.{kind}"
    raise ValueError(f"no event name for source {source!r}")


def build_event(
    merchant: str,
    source: str,
    message_id: str,
    kind: str,
    subject_id: str | None,
    occurred: datetime,
    attempt: int = 0,
) -> dict[str, Any]:
    """The event as the Prefect API takes it: the return (or RMA) is the resource."""
    if not subject_id:
        raise ValueError(f"{source} message {message_id} names no return or RMA")
    if source == SOURCE_RETURNLY:
        resource_id, subject_key = f"returnly.return.{subject_id}", "return_id"
    elif source == SOURCE_AMS:
        resource_id, subject_key = f"ams.rma.{subject_id}", "customer_identifier"
    else:
        raise ValueError(f"no event for source {source!r}")
    return {
        "id": str(event_id(source, message_id, attempt)),
        "occurred": occurred.astimezone(UTC).isoformat(),
        "event": event_name(source, kind),
        "resource": {"prefect.resource.id": resource_id, "merchant": merchant},
        "payload": {
            subject_key: subject_id,
            "message_id": message_id,
            "source": source,
            "merchant": merchant,
        },
    }


def _prefect_auth_headers() -> dict[str, str]:
    """The same credentials the Prefect client would send, when any are configured."""
    import base64

    from prefect.settings import get_current_settings

    api = get_current_settings().api
    auth_string = api.auth_string.get_secret_value() if api.auth_string else None
    key = api.key.get_secret_value() if api.key else None
    if auth_string:
        return {"Authorization": "Basic " + base64.b64encode(auth_string.encode()).decode()}
    if key:
        return {"Authorization": f"Bearer {key}"}
    return {}


def prefect_api_url() -> str | None:
    """``PREFECT_API_URL`` as Prefect resolves it (env, profile or test harness)."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


class EventDispatcher:
    """POST one event per message to the Prefect API; raises on any non-2xx or transport error."""

    def __init__(
        self,
        api_url: str | None = None,
        *,
        http_client: httpx.Client | None = None,
        headers: dict[str, str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        url = api_url or prefect_api_url()
        if not url:
            raise ValueError("EventDispatcher needs PREFECT_API_URL (or api_url=)")
        self.url = f"{url.rstrip('/')}/events"
        self._headers = _prefect_auth_headers() if headers is None else headers
        self._client = http_client or httpx.Client(timeout=EVENTS_TIMEOUT_S)
        self._clock = clock

    def dispatch(
        self,
        merchant: str,
        source: str,
        message_id: str,
        kind: str,
        subject_id: str | None,
        *,
        attempt: int = 0,
    ) -> None:
        """Post the event; ``raise_for_status`` makes an unavailable API visible."""
        event = build_event(
            merchant, source, message_id, kind, subject_id, self._clock(), attempt=attempt
        )
        response = self._client.post(self.url, json=[event], headers=self._headers)
        response.raise_for_status()

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def __repr__(self) -> str:
        return f"EventDispatcher(url={self.url!r})"
