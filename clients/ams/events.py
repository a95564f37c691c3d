"""rmaEvent callbacks (contracts §B.7): both api_versions, one normalised message per data item.

The spec schema says the body is an array of envelopes while every example is one envelope,
so :func:`parse_rma_event` takes either. Deduplicate on ``message_id`` (plus ``index`` when one
message carries several items). Parse errors never echo the body: it may hold the token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from clients.ams.errors import AmsError
from clients.ams.models import Rma
from clients.ams.statuses import RMA_EVENT_NAMES

__all__ = [
    "RMA_EVENT_NAMES",
    "AmsEventParseError",
    "RmaEventEnvelope",
    "RmaEventMessage",
    "RmaEventV1",
    "RmaEventV2",
    "RmaEventV2Item",
    "parse_rma_event",
]


class AmsEventParseError(AmsError, ValueError):
    """The callback body is not an rmaEvent in any known shape."""


class RmaEventEnvelope(BaseModel):
    """Fields every rmaEvent message carries; ``token`` appears only with body delivery."""

    model_config = ConfigDict(extra="allow")

    callback_url: str | None = None
    message_type: str | None = None
    message_id: str
    api_version: str | None = None
    token: SecretStr | None = None


class RmaEventV1(RmaEventEnvelope):
    """api_version 1.0: each data item is the full RMA after the change."""

    data: list[Rma] = Field(default_factory=list)


class RmaEventV2Item(BaseModel):
    """api_version 2.0 item: ``event_type`` (carrier scan) or ``status`` + ``details`` (receipt)."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    customer_identifier: str | None = None
    event_type: str | None = None
    status: str | None = None
    as_of: datetime | None = None
    details: Rma | None = None

    @field_validator("as_of", mode="before")
    @classmethod
    def _blank_as_of(cls, value: Any) -> Any:
        return None if value == "" else value

    @property
    def event(self) -> str:
        """The event name, whichever key carried it."""
        return self.event_type or self.status or (self.details.status if self.details else "") or ""


class RmaEventV2(RmaEventEnvelope):
    """api_version 2.0 message."""

    data: list[RmaEventV2Item] = Field(default_factory=list)


class RmaEventMessage(BaseModel):
    """One normalised rmaEvent item, the same whatever the api_version."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    index: int = 0
    """Position of the item inside its message (a message may carry several)."""
    api_version: str
    event: str
    """``tendered``, ``inTransit``, ``received``… (the v1.0 RMA status when nothing else says)."""
    customer_identifier: str | None
    rma_id: str | None
    as_of: datetime | None
    rma: Rma | None
    """The full RMA when the message carried it (v1.0 always, v2.0 on receipt)."""

    @property
    def dedupe_key(self) -> str:
        """Stable key for the inbox: redelivered duplicates share it."""
        return f"{self.message_id}:{self.index}"


def _version_of(envelope: dict[str, Any]) -> str:
    declared = envelope.get("api_version")
    if declared is not None and str(declared).strip():
        return str(declared).strip()
    items = envelope.get("data") or []
    v2_keys = {"event_type", "as_of", "details"}
    looks_v2 = any(isinstance(i, dict) and v2_keys & i.keys() for i in items)
    return "2.0" if looks_v2 else "1.0"


def _problems(exc: ValidationError) -> str:
    """Locations and messages only: pydantic's own text would echo input values."""
    parts = [
        f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
        for e in exc.errors(include_input=False, include_url=False)[:5]
    ]
    return "; ".join(parts)


def _parse_envelope(envelope: dict[str, Any]) -> list[RmaEventMessage]:
    version = _version_of(envelope)
    out: list[RmaEventMessage] = []
    if version.startswith("2"):
        v2 = RmaEventV2.model_validate(envelope)
        for i, item in enumerate(v2.data):
            rma = item.details
            out.append(
                RmaEventMessage(
                    message_id=v2.message_id,
                    index=i,
                    api_version=version,
                    event=item.event,
                    customer_identifier=item.customer_identifier
                    or (rma.customer_identifier if rma else None),
                    rma_id=item.id or (rma.id if rma else None),
                    as_of=item.as_of or (rma.updated_at if rma else None),
                    rma=rma,
                )
            )
        return out
    items = envelope.get("data") or []
    v1 = RmaEventV1.model_validate({**envelope, "data": []})
    for i, raw in enumerate(items):
        if not isinstance(raw, dict):
            raise AmsEventParseError(f"data.{i}: an RMA object was expected")
        rma = Rma.from_api(raw)
        event = raw.get("event_type") or raw.get("event") or rma.status or ""
        out.append(
            RmaEventMessage(
                message_id=v1.message_id,
                index=i,
                api_version=version,
                event=str(event),
                customer_identifier=rma.customer_identifier,
                rma_id=rma.id,
                as_of=rma.received_at or rma.updated_at,
                rma=rma,
            )
        )
    return out


def parse_rma_event(body: Any) -> list[RmaEventMessage]:
    """Normalise an rmaEvent body (one envelope or an array of them) into messages."""
    envelopes = body if isinstance(body, list) else [body]
    out: list[RmaEventMessage] = []
    for n, envelope in enumerate(envelopes):
        if not isinstance(envelope, dict):
            raise AmsEventParseError(f"[{n}]: an envelope object was expected")
        try:
            out.extend(_parse_envelope(envelope))
        except ValidationError as exc:
            raise AmsEventParseError(f"[{n}] not an rmaEvent: {_problems(exc)}") from None
    return out
