"""Receiver settings (env prefix ``BRIDGE_WEBHOOKS_``) and the dispatcher they select."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from webhooks.coalesce import DEFAULT_MAX_ITEMS, DEFAULT_WINDOW_S
from webhooks.dispatch import CompositeDispatcher, Dispatcher, TaskWorkerDispatcher
from webhooks.events import EventDispatcher
from webhooks.limits import (
    BODY_TIMEOUT_S,
    HEADER_TIMEOUT_S,
    MAX_BODY_BYTES,
    SIGNATURE_TOLERANCE_S,
)

DispatchMode = Literal["task", "event", "both"]
DISPATCH_MODES: tuple[DispatchMode, ...] = ("task", "event", "both")


class WebhookSettings(BaseSettings):
    """Where the receiver listens and how it hands messages to Prefect."""

    model_config = SettingsConfigDict(
        env_prefix="BRIDGE_WEBHOOKS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    host: str = "127.0.0.1"
    port: int = Field(8703, ge=0, le=65535)
    dispatch: DispatchMode = "task"
    """``task``: a task worker via ``.delay()`` (sub-second); ``event``: a Prefect event for
    deployment triggers (seconds); ``both``: the two, in that order."""
    batch_window_s: float = Field(DEFAULT_WINDOW_S, ge=0, le=10)
    """``task``: how long a message waits for others of its merchant to travel with."""
    batch_max: int = Field(DEFAULT_MAX_ITEMS, ge=1, le=DEFAULT_MAX_ITEMS)
    """``task``: at most this many messages per task run (1 = one run per message)."""
    max_body_bytes: int = Field(MAX_BODY_BYTES, gt=0)
    signature_tolerance_s: float = Field(float(SIGNATURE_TOLERANCE_S), gt=0)
    header_timeout_s: float = Field(HEADER_TIMEOUT_S, gt=0)
    """Request headers must be complete this soon after a connection opens (else 408)."""
    body_timeout_s: float = Field(BODY_TIMEOUT_S, gt=0)
    """The body must be complete this soon after the headers (else 408)."""


def build_dispatcher(
    mode: DispatchMode, *, api_url: str | None = None, settings: WebhookSettings | None = None
) -> Dispatcher:
    """The dispatcher for a mode; ``event`` needs ``PREFECT_API_URL`` (or ``api_url``)."""
    cfg = settings or WebhookSettings()

    def task_worker() -> TaskWorkerDispatcher:
        return TaskWorkerDispatcher(
            preload=True, batch_window_s=cfg.batch_window_s, batch_max=cfg.batch_max
        )

    if mode == "task":
        return task_worker()
    if mode == "event":
        return EventDispatcher(api_url)
    if mode == "both":
        return CompositeDispatcher([task_worker(), EventDispatcher(api_url)])
    raise ValueError(f"unknown dispatch mode {mode!r}; use one of {', '.join(DISPATCH_MODES)}")
