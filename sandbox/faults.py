"""Faults on demand for a sandbox, set at runtime through ``/_admin/faults``, reproducible by seed.

Request faults apply to every API route (not to ``/_admin``) *before* the route runs: added
latency, a 5xx rate, 429 with ``Retry-After``, and hangs past the client timeout.

Commit-then-fail faults apply to the write routes a sandbox names (``install_faults(...,
is_write=...)``) *after* the route ran and its write was applied: the answer is then lost, as
a dropped connection (``drop``), a 500 (``500``) or a hang followed by a 504 (``hang``).

Behaviour switches read by the routes themselves: ``refund_idempotency`` (Returnly) and
``duplicate_identifiers`` (AMS). Delivery faults (duplicates, reordering, random delays) are
read by each sandbox's outbound delivery code through :meth:`FaultState.plan_copies`.

Every decision comes from RNGs seeded by ``seed`` (one stream per kind, so enabling one
fault does not shift the others) and is counted in ``injected``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ADMIN_PREFIX = "/_admin"
FAULT_SCOPE_KEY = "sandbox.fault"
"""Set in the ASGI scope to the fault injected into a request (read by the request log)."""

CommitFailMode = Literal["drop", "500", "hang"]
ALL_COMMIT_FAIL_MODES: tuple[CommitFailMode, ...] = ("drop", "500", "hang")
WritePredicate = Callable[[str, str], bool]
"""``(method, path) -> bool``: the routes whose writes commit-then-fail may lose."""
T = TypeVar("T")


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
    commit_then_fail_rate: float = Field(0.0, ge=0, le=1)
    """Write routes only: the route runs and its write is applied, then the answer is lost."""
    commit_then_fail_modes: list[CommitFailMode] = Field(
        default_factory=lambda: list(ALL_COMMIT_FAIL_MODES), min_length=1
    )
    """How the answer is lost, one picked per fault: ``drop`` (connection cut mid-body),
    ``500`` (JSON error), ``hang`` (``hang_s`` then 504)."""
    refund_idempotency: Literal["strict", "none"] = "strict"
    """Returnly: ``none`` accepts every refund of a return, Idempotency-Key ignored."""
    duplicate_identifiers: Literal["refuse", "accept"] = "refuse"
    """AMS: ``accept`` lets POST /rmas create a second live RMA with the same identifier."""
    duplicate_rate: float = Field(0.0, ge=0, le=1)
    """Deliveries: probability that a message is delivered one extra time."""
    duplicate_count: int = Field(1, ge=1, le=100)
    """Deliveries: every message is delivered this many times in total."""
    delivery_delay_ms_max: int = Field(0, ge=0, le=600_000)
    """Deliveries: each copy waits a random 0..max ms before it is sent (overtaking)."""
    reorder: bool = False
    """Deliveries: shuffle each batch of pending messages before sending."""
    echo_credentials: bool = False
    """Injected errors quote the request's credential headers, plain, base64 and URL-encoded,
    as a careless API might (the clients must redact them)."""


class FaultState:
    """Holds the current config and seeded RNGs; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.injected: dict[str, int] = {}
        self.configure(FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        """Replace the config and reseed, so the same seed gives the same faults."""
        with self._lock:
            self.config = config
            self.rng = random.Random(config.seed)
            self.commit_rng = random.Random(f"commit:{config.seed}")
            self.delivery_rng = random.Random(f"delivery:{config.seed}")
            self._fail_left = config.fail_first_n
            self._limit_left = config.rate_limit_first_n
            self.injected = {}

    def snapshot(self) -> dict[str, int]:
        """A copy of the ``injected`` counters."""
        with self._lock:
            return dict(self.injected)

    def _count(self, kind: str, n: int = 1) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + n

    def count(self, kind: str, n: int = 1) -> None:
        """Count something injected by code outside this class (routes, deliverers)."""
        with self._lock:
            self._count(kind, n)

    def _applies(self, path: str) -> bool:
        pc = self.config.path_contains
        return not pc or pc in path

    def decide(self, path: str) -> str | None:
        """Pick the fault for one request: 'error', 'rate_limit', 'hang' or None."""
        with self._lock:
            c = self.config
            if not self._applies(path):
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

    def commit_then_fail(self, path: str) -> CommitFailMode | None:
        """After a write succeeded: lose its answer? Returns the mode, or None."""
        with self._lock:
            c = self.config
            if c.commit_then_fail_rate <= 0 or not self._applies(path):
                return None
            if self.commit_rng.random() >= c.commit_then_fail_rate:
                return None
            mode: CommitFailMode = self.commit_rng.choice(c.commit_then_fail_modes)
            self._count("commit_then_fail")
            self._count(f"commit_then_fail:{mode}")
            return mode

    def plan_copies(self, messages: Sequence[T]) -> list[tuple[T, float]]:
        """Delivery faults for a batch: ``(copy, delay_s)`` per copy to send.

        Each message becomes ``duplicate_count`` copies (one more with ``duplicate_rate``),
        ``reorder`` shuffles the copies, and ``delivery_delay_ms_max`` gives each copy its
        own random delay, so copies and messages overtake each other. Copies of a message
        are the same object (same message id).
        """
        with self._lock:
            c = self.config
            rng = self.delivery_rng
            copies: list[T] = []
            for m in messages:
                n = c.duplicate_count
                if c.duplicate_rate and rng.random() < c.duplicate_rate:
                    n += 1
                copies.extend([m] * n)
                if n > 1:
                    self._count("duplicate", n - 1)
            if c.reorder and len(copies) > 1:
                rng.shuffle(copies)
                self._count("reorder")
            if not c.delivery_delay_ms_max:
                return [(m, 0.0) for m in copies]
            out: list[tuple[T, float]] = []
            for m in copies:
                delay = rng.uniform(0, c.delivery_delay_ms_max) / 1000
                if delay > 0:
                    self._count("delayed")
                out.append((m, delay))
            return out

    def plan(self, messages: Sequence[T]) -> list[T]:
        """:meth:`plan_copies` without the delays (copies in sending order)."""
        return [m for m, _ in self.plan_copies(messages)]


# --- dropping a connection quietly -------------------------------------------------------------

_DROPPING: contextvars.ContextVar[bool] = contextvars.ContextVar("sandbox_dropping", default=False)


class _QuietDrops(logging.Filter):
    """Hide uvicorn's complaint about the response a ``drop`` fault left unfinished on purpose.

    The fault middleware runs in uvicorn's request task (no task boundary on the way), so the
    context variable it sets is still set when uvicorn logs after the app returned.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_DROPPING.get() and "without completing response" in str(record.msg))


_QUIET_DROPS = _QuietDrops()


CREDENTIAL_HEADERS = (b"authorization", b"x-api-token")


def _echo_credentials(scope: Scope, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` plus the request's credentials in the forms a careless API echoes them."""
    import base64
    from urllib.parse import quote

    sent = [v.decode("latin-1") for k, v in scope["headers"] if k.lower() in CREDENTIAL_HEADERS]
    tokens = [v.partition(" ")[2] or v for v in sent]
    return {
        **body,
        "message": f"{body['message']} for credentials {', '.join(sent)}",
        "echo": {
            "headers": sent,
            "base64": [base64.b64encode(t.encode()).decode() for t in tokens],
            "urlencoded": [quote(t, safe="") for t in tokens],
        },
    }


async def _send_json(send: Send, status: int, body: dict[str, Any], **headers: str) -> None:
    response = JSONResponse(body, status_code=status, headers=headers or None)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body, "more_body": False})


class FaultMiddleware:
    """Applies :class:`FaultState` to API requests (pure ASGI: a drop must reach the socket)."""

    def __init__(self, app: ASGIApp, state: FaultState, is_write: WritePredicate | None = None):
        self.app = app
        self.state = state
        self.is_write = is_write

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Latency and faults before the route runs; commit-then-fail after it."""
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        cfg = self.state.config
        if cfg.latency_ms:
            await asyncio.sleep(cfg.latency_ms / 1000)
        fault = self.state.decide(path)
        if fault is not None:
            scope[FAULT_SCOPE_KEY] = fault
            if fault == "hang":
                await asyncio.sleep(cfg.hang_s)
                await _send_json(send, 504, {"message": "sandbox hang fault"})
            elif fault == "rate_limit":
                await _send_json(
                    send,
                    429,
                    {"message": "Too Many Requests (sandbox fault)"},
                    **{"Retry-After": f"{cfg.retry_after_s:g}"},
                )
            else:
                body: dict[str, Any] = {"message": "sandbox injected server error"}
                if cfg.echo_credentials:
                    body = _echo_credentials(scope, body)
                await _send_json(send, cfg.error_status, body)
            return
        if cfg.commit_then_fail_rate > 0 and self.is_write and self.is_write(scope["method"], path):
            await self._commit_then_fail(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _commit_then_fail(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the route to the end (its write is applied), then maybe lose its answer."""
        sent: list[Message] = []

        async def capture(message: Message) -> None:
            sent.append(message)

        await self.app(scope, receive, capture)
        start = next((m for m in sent if m["type"] == "http.response.start"), None)
        ok = start is not None and 200 <= int(start["status"]) < 300
        mode = self.state.commit_then_fail(scope["path"]) if ok else None
        if mode is None or start is None:
            for message in sent:
                await send(message)
            return
        scope[FAULT_SCOPE_KEY] = f"commit_then_fail:{mode}"
        if mode == "500":
            await _send_json(
                send, 500, {"message": "sandbox fault: the write was applied, the answer lost"}
            )
        elif mode == "hang":
            await asyncio.sleep(self.state.config.hang_s)
            await _send_json(send, 504, {"message": "sandbox fault: the write was applied"})
        else:
            body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
            await self._drop(start, body, send)

    @staticmethod
    async def _drop(start: Message, body: bytes, send: Send) -> None:
        """Status line and headers promising more body than is sent, then the app returns.

        uvicorn then closes the connection mid-body: the client sees a transport error
        (httpx: ``RemoteProtocolError``) and no usable answer.
        """
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body) + 1024).encode()))
        headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        partial = body[: len(body) // 2]
        await send({"type": "http.response.body", "body": partial, "more_body": True})
        _DROPPING.set(True)


def fault_router(state: FaultState) -> APIRouter:
    """Admin routes to read, set and clear faults."""
    router = APIRouter(prefix=f"{ADMIN_PREFIX}/faults", tags=["admin"])

    @router.get("")
    def get_faults() -> dict[str, Any]:
        return {"config": state.config.model_dump(), "injected": state.snapshot()}

    @router.put("")
    def set_faults(config: FaultConfig) -> dict[str, Any]:
        state.configure(config)
        return {"config": state.config.model_dump()}

    @router.delete("")
    def clear_faults() -> dict[str, Any]:
        state.configure(FaultConfig())
        return {"config": state.config.model_dump()}

    return router


def install_faults(app: FastAPI, *, is_write: WritePredicate | None = None) -> FaultState:
    """Add the middleware and admin routes to an app; returns the state for in-process use.

    ``is_write(method, path)`` names the routes commit-then-fail applies to (none if omitted).
    """
    state = FaultState()
    app.add_middleware(FaultMiddleware, state=state, is_write=is_write)
    app.include_router(fault_router(state))
    logging.getLogger("uvicorn.error").addFilter(_QUIET_DROPS)
    return state
