"""A callback receiver for tests: records every POST it gets and can fail on demand."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


@dataclass
class Received:
    """One delivery as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: Any


class CallbackReceiver:
    """Serve :meth:`app` with ``serve_in_thread``; ``fail_next`` makes it answer 500 N times."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.url = ""
        self.calls: list[Received] = []
        self.failures_left = 0
        self.fail_status = 500
        self.stall_left = 0
        self.stall_s = 0.0

    def clear(self) -> None:
        """Forget what was received and stop failing."""
        with self._lock:
            self.calls = []
            self.failures_left = 0
            self.fail_status = 500
            self.stall_left = 0

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next ``n`` deliveries with HTTP ``status`` (500 by default)."""
        with self._lock:
            self.failures_left = n
            self.fail_status = status

    def stall_next(self, n: int, seconds: float) -> None:
        """Sleep ``seconds`` before answering the next ``n`` deliveries (client timeouts)."""
        with self._lock:
            self.stall_left = n
            self.stall_s = seconds

    def bodies(self) -> list[Any]:
        """Every body received (failed deliveries included), in arrival order."""
        with self._lock:
            return [c.body for c in self.calls]

    def wait_for(self, n: int, timeout_s: float = 5.0) -> list[Received]:
        """Until at least ``n`` calls arrived (the sandbox flush is the usual way to wait)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.calls) >= n:
                    return list(self.calls)
            time.sleep(0.01)
        raise AssertionError(f"expected {n} callbacks, got {len(self.calls)}")

    def app(self) -> FastAPI:
        """The ASGI app: any POST path is recorded."""
        app = FastAPI()

        @app.post("/{path:path}")
        async def receive(path: str, request: Request) -> JSONResponse:
            body = await request.json()
            with self._lock:
                self.calls.append(Received(path, dict(request.headers), body))
                stall = self.stall_s if self.stall_left > 0 else 0.0
                self.stall_left = max(0, self.stall_left - 1)
                if not stall and self.failures_left > 0:
                    self.failures_left -= 1
                    status = self.fail_status
                    return JSONResponse({"error": "receiver fault"}, status_code=status)
            if stall:
                await asyncio.sleep(stall)
            return JSONResponse({"ok": True})

        return app
