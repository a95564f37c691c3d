"""Start and stop a local Prefect server (SQLite, or Postgres when told) and child processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx

from sandbox.server import free_port

SERVER_START_TIMEOUT_S = 120.0

QUIET_PREFECT_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}


def prefect_env(home: Path, api_url: str | None = None) -> dict[str, str]:
    """Environment for processes talking to the local server (isolated PREFECT_HOME)."""
    env = {"PREFECT_HOME": str(home), **QUIET_PREFECT_ENV}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def _wait_healthy(api_url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited early; see {log}")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"prefect server not healthy after {SERVER_START_TIMEOUT_S}s; see {log}")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM the process group, then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def spawn(
    args: list[str], env: Mapping[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a child in its own process group, output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = log.open("ab")
    return subprocess.Popen(
        args,
        env={**os.environ, **env},
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        start_new_session=True,
    )


@contextlib.contextmanager
def local_prefect_server(
    home: Path, port: int = 0, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """A ``prefect server start`` on 127.0.0.1; yields the API URL.

    Its database is SQLite in ``home`` unless ``env`` names another
    (``PREFECT_SERVER_DATABASE_CONNECTION_URL=postgresql+asyncpg://...``).
    """
    port = port or free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    log = home / "server.log"
    cmd = [
        str(Path(sys.executable).parent / "prefect"),
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--analytics-off",
    ]
    # The UI asks /ui-settings where the API is; without this it says 127.0.0.1:4200.
    server_env = {**prefect_env(home), "PREFECT_SERVER_UI_API_URL": api_url, **(env or {})}
    proc = spawn(cmd, server_env, log)
    try:
        _wait_healthy(api_url, proc, log)
        yield api_url
    finally:
        stop_process(proc)
