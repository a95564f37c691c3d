"""Sandbox-only admin routes for webhook delivery: log, flush, hold, retry tuning."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from sandbox.returnly.delivery import DeliveryConfig
from sandbox.returnly.routes.common import ApiError, dispatcher_of

router = APIRouter(prefix="/_admin/deliveries", tags=["admin"])


class FlushRequest(BaseModel):
    """How long to wait for the queue to drain."""

    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(10.0, gt=0, le=120)


class HoldRequest(BaseModel):
    """Keep deliveries queued until the next flush (to batch them for reordering)."""

    model_config = ConfigDict(extra="forbid")

    hold: bool


class ConfigRequest(BaseModel):
    """Retry tuning for deliveries (a failed attempt is retried after ``backoff_s``, doubling
    per attempt up to ``max_backoff_s``, until ``max_attempts`` attempts were made)."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(10, ge=1, le=50)
    backoff_s: float = Field(0.5, ge=0, le=30)
    timeout_s: float = Field(2.0, gt=0, le=60)
    max_backoff_s: float = Field(5.0, ge=0, le=300)


@router.get("")
def deliveries(request: Request) -> dict[str, Any]:
    """Every delivery attempt so far (with status codes) and what is still pending."""
    d = dispatcher_of(request)
    return {"pending": d.pending(), "hold": d.hold, "attempts": list(d.log)}


@router.post("/flush")
def flush(request: Request, body: FlushRequest | None = None) -> dict[str, Any]:
    """Send what is queued now and wait until every delivery has finished."""
    d = dispatcher_of(request)
    if not d.flush((body or FlushRequest()).timeout_s):
        raise ApiError(504, f"{d.pending()} deliveries still pending")
    return {"pending": 0, "attempts": len(d.log)}


@router.post("/hold")
def hold(request: Request, body: HoldRequest) -> dict[str, Any]:
    """Hold or release the queue."""
    d = dispatcher_of(request)
    d.set_hold(body.hold)
    return {"hold": d.hold}


@router.put("/config")
def configure(request: Request, body: ConfigRequest) -> dict[str, Any]:
    """Change retry tuning (reset restores the defaults)."""
    d = dispatcher_of(request)
    d.config = DeliveryConfig(**body.model_dump())
    return body.model_dump()
