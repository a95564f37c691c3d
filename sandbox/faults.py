"""Faults on demand for a sandbox, set at runtime through ``/_admin/faults``, reproducible by seed.

Request faults apply to every API route (not to ``/_admin``): added latency, a 5xx rate,
429 with ``Retry-After``, and hangs past the client timeout. Delivery faults (duplicates,
reordering) are read by each sandbox's outbound delivery code through :meth:`FaultState.plan`.
"""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

ADMIN_PREFIX = "/_admin"


class FaultConfig(BaseModel):
    """What goes wrong, and how often. All rates are probabilities in [0, 1]."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    latency_ms: int = Field(0, ge=0)
    error_rate: float = Field(0.0, ge=0, le=1)
    error_status: int = Field(503, ge=500, le=599)
    rate_limit_rate: float = Field(0.0, ge=0, le=1)
    retry_after_s: float = Field(1.0, ge=0)
    hang_rate: float = Field(0.0, ge=0, le=1)
    hang_s: float = Field(60.0, ge=0)
    fail_first_n: int = Field(0, ge=0)
    """Fail exactly the next N API requests with ``error_status`` (deterministic storms)."""
    rate_limit_first_n: int = Field(0, ge=0)
    """Answer exactly the next N API requests with 429 + Retry-After."""
    path_contains: str | None = None
    """Only requests whose path contains this text are affected (None = all)."""
    duplicate_rate: float = Field(0.0, ge=0, le=1)
    """Deliveries: probability that a message is delivered a second time."""
    reorder: bool = False
    """Deliveries: shuffle each batch of pending messages before sending."""


class FaultState:
    """Holds the current config and a seeded RNG; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.configure(FaultConfig())
        self.injected: dict[str, int] = {}

    def configure(self, config: FaultConfig) -> None:
        """Replace the config and reseed, so the same seed gives the same faults."""
        with self._lock:
            self.config = config
            self.rng = random.Random(config.seed)
            self._fail_left = config.fail_first_n
            self._limit_left = config.rate_limit_first_n
            self.injected = {}

    def _count(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1

    def decide(self, path: str) -> str | None:
        """Pick the fault for one request: 'error', 'rate_limit', 'hang' or None."""
        with self._lock:
            c = self.config
            if c.path_contains and c.path_contains not in path:
                return None
            if self._fail_left > 0:
                self._fail_left -= 1
                self._count("error")
                return "error"
            if self._limit_left > 0:
                self._limit_left -= 1
                self._count("rate_limit")
                return "rate_limit"
            roll = self.rng.random()
            for kind, rate in (
                ("hang", c.hang_rate),
                ("rate_limit", c.rate_limit_rate),
                ("error", c.error_rate),
            ):
                if roll < rate:
                    self._count(kind)
                    return kind
                roll -= rate
            return None

    def plan(self, messages: list[Any]) -> list[Any]:
        """Apply delivery faults to a batch of outbound messages: duplicates, then reordering."""
        with self._lock:
            out: list[Any] = []
            for m in messages:
                out.append(m)
                if self.rng.random() < self.config.duplicate_rate:
                    out.append(m)
                    self._count("duplicate")
            if self.config.reorder and len(out) > 1:
                self.rng.shuffle(out)
                self._count("reorder")
            return out


class FaultMiddleware(BaseHTTPMiddleware):
    """Applies :class:`FaultState` to API requests."""

    def __init__(self, app: Any, state: FaultState) -> None:
        super().__init__(app)
        self.state = state

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        """Inject latency and faults before the route runs."""
        path = request.url.path
        if path.startswith(ADMIN_PREFIX):
            return await call_next(request)
        cfg = self.state.config
        if cfg.latency_ms:
            await asyncio.sleep(cfg.latency_ms / 1000)
        fault = self.state.decide(path)
        if fault == "hang":
            await asyncio.sleep(cfg.hang_s)
            return JSONResponse({"message": "sandbox hang fault"}, status_code=504)
        if fault == "rate_limit":
            return JSONResponse(
                {"message": "Too Many Requests (sandbox fault)"},
                status_code=429,
                headers={"Retry-After": f"{cfg.retry_after_s:g}"},
            )
        if fault == "error":
            return JSONResponse(
                {"message": "sandbox injected server error"}, status_code=cfg.error_status
            )
        return await call_next(request)


def fault_router(state: FaultState) -> APIRouter:
    """Admin routes to read, set and clear faults."""
    router = APIRouter(prefix=f"{ADMIN_PREFIX}/faults", tags=["admin"])

    @router.get("")
    def get_faults() -> dict[str, Any]:
        return {"config": state.config.model_dump(), "injected": state.injected}

    @router.put("")
    def set_faults(config: FaultConfig) -> dict[str, Any]:
        state.configure(config)
        return {"config": state.config.model_dump()}

    @router.delete("")
    def clear_faults() -> dict[str, Any]:
        state.configure(FaultConfig())
        return {"config": state.config.model_dump()}

    return router


def install_faults(app: FastAPI) -> FaultState:
    """Add the middleware and admin routes to an app; returns the state for in-process use."""
    state = FaultState()
    app.add_middleware(FaultMiddleware, state=state)
    app.include_router(fault_router(state))
    return state
