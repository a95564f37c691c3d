"""A webhook receiver for tests: verifies the sandbox's HMAC signature and records deliveries."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response

SIGNATURE_TOLERANCE_S = 300


def verify_signature(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Check ``X-Returnly-Signature`` over ``f"{timestamp}." + body`` and the timestamp age."""
    timestamp = headers.get("x-returnly-timestamp", "")
    given = headers.get("x-returnly-signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > SIGNATURE_TOLERANCE_S:
        return False
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(given, f"sha256={mac.hexdigest()}")


@dataclass
class Delivery:
    """One POST as the receiver saw it."""

    headers: dict[str, str]
    raw: bytes
    verified: bool

    @property
    def body(self) -> Any:
        """The parsed JSON body."""
        return json.loads(self.raw)


class WebhookReceiver:
    """Serve :meth:`app` with ``serve_in_thread``; wrong signatures get 401, ``fail_next`` 500s."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.url = ""
        self.secret = ""
        self.deliveries: list[Delivery] = []
        self.failures_left = 0
        self.fail_status = 500

    def clear(self) -> None:
        """Forget everything received and stop failing."""
        with self._lock:
            self.deliveries = []
            self.failures_left = 0
            self.fail_status = 500
            self.secret = ""

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next ``n`` deliveries with HTTP ``status`` (500 by default)."""
        with self._lock:
            self.failures_left = n
            self.fail_status = status

    def accepted(self) -> list[Delivery]:
        """Verified deliveries, in arrival order."""
        with self._lock:
            return [d for d in self.deliveries if d.verified]

    def app(self) -> FastAPI:
        """The ASGI app: POST anywhere."""
        app = FastAPI()

        @app.post("/{path:path}")
        async def receive(path: str, request: Request) -> Response:
            raw = await request.body()
            headers = dict(request.headers)
            with self._lock:
                ok = bool(self.secret) and verify_signature(self.secret, headers, raw)
                self.deliveries.append(Delivery(headers, raw, ok))
                if not ok:
                    return Response(status_code=401)
                if self.failures_left > 0:
                    self.failures_left -= 1
                    return Response(status_code=self.fail_status)
            return Response(status_code=204)

        return app
