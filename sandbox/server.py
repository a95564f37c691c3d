"""Run an ASGI app under uvicorn in a background thread on 127.0.0.1 (port 0 = a free port)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

STARTUP_TIMEOUT_S = 15.0


def free_port() -> int:
    """Ask the OS for a free loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadedServer:
    """A uvicorn server in a daemon thread; ``stop()`` shuts it down and joins the thread.

    ``options`` are passed on to ``uvicorn.Config`` (the receiver's protocol and limits).
    """

    def __init__(
        self, app: FastAPI, port: int = 0, host: str = "127.0.0.1", **options: Any
    ) -> None:
        self.host = host
        self.port = port or free_port()
        config = uvicorn.Config(
            app,
            host=host,
            port=self.port,
            log_level="warning",
            lifespan="on",
            access_log=False,
            **options,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name=f"srv-{port}")

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> ThreadedServer:
        """Start and wait until the socket accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)


@contextlib.contextmanager
def serve_in_thread(app: FastAPI, port: int = 0) -> Iterator[ThreadedServer]:
    """Context manager form of :class:`ThreadedServer`."""
    server = ThreadedServer(app, port).start()
    try:
        yield server
    finally:
        server.stop()
