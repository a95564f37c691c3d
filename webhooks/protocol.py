"""uvicorn's h11 protocol with a deadline for the request headers (slow-header clients are cut).

uvicorn's own ``timeout_keep_alive`` only closes connections that send nothing; a client
that trickles a header byte every few seconds would hold its connection forever. Here each
request's headers must be complete within ``header_timeout_s`` of the connection opening, or
on a kept-alive connection of the request's first byte (idle time between requests is
``timeout_keep_alive``'s); otherwise the receiver answers 408 and closes the connection.
The body has its own deadline inside the app (:func:`webhooks.body.read_limited`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from webhooks.limits import HEADER_TIMEOUT_S, KEEP_ALIVE_S, MAX_HEADER_BYTES

logger = logging.getLogger(__name__)

_TIMEOUT_BODY = b'{"error": "request headers not received in time"}'
TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY
)


class HeaderDeadlineProtocol(H11Protocol):
    """H11Protocol that closes connections whose request headers take too long."""

    header_timeout_s: float = HEADER_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        between_requests = self.cycle is None or self.cycle.response_complete
        if between_requests and self._header_deadline is None:
            self._arm()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's headers are complete
            self._disarm()

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _too_slow(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "unknown peer"
        logger.warning(
            "request headers from %s not complete within %g s: 408, connection closed",
            peer,
            self.header_timeout_s,
        )
        self.transport.write(TIMEOUT_RESPONSE)
        self.transport.close()


def header_deadline_protocol(header_timeout_s: float) -> type[HeaderDeadlineProtocol]:
    """A protocol class with its own header deadline (uvicorn takes a class, not an instance)."""
    if header_timeout_s <= 0:
        raise ValueError("header_timeout_s must be positive")
    return type(
        "HeaderDeadlineProtocol",
        (HeaderDeadlineProtocol,),
        {"header_timeout_s": header_timeout_s},
    )


def uvicorn_options(header_timeout_s: float = HEADER_TIMEOUT_S) -> dict[str, Any]:
    """The uvicorn settings the receiver runs with (``uvicorn.run(app, **options)``)."""
    return {
        "http": header_deadline_protocol(header_timeout_s),
        "timeout_keep_alive": KEEP_ALIVE_S,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
    }
