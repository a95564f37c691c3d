"""A stand-in for the Prefect API's ``POST /api/events``: records events, fails on demand.

Used where the real server would cost a 15 s harness start and cannot be told to fail.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI, Request, Response


class EventsStub:
    """Serve :meth:`app` with ``serve_in_thread``; ``fail_status`` makes every POST fail."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.fail_status: int | None = None
        self.attempts = 0

    def app(self) -> FastAPI:
        """The ASGI app."""
        app = FastAPI()

        @app.post("/api/events")
        async def events(request: Request) -> Response:
            body = await request.json()
            with self._lock:
                self.attempts += 1
                if self.fail_status is not None:
                    return Response(status_code=self.fail_status)
                self.events.extend(body)
                self.headers.append(dict(request.headers))
            return Response(status_code=204)

        return app
