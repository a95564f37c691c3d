"""A real S3-compatible server on loopback: moto in server mode, one bucket, stopped by PID."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from deployments.prefect_server import spawn, stop_process
from sandbox.server import free_port

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "moto-test-key",
    "AWS_SECRET_ACCESS_KEY": "moto-test-secret",  # moto accepts any; never a real one here
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class S3Server:
    """Where the server listens and the bucket made on it."""

    endpoint_url: str
    bucket: str

    def filesystem(self) -> Any:
        """An s3fs file system on this server (the client side operators use)."""
        import s3fs

        return s3fs.S3FileSystem(
            key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            secret=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            client_kwargs={"endpoint_url": self.endpoint_url, "region_name": "us-east-1"},
            use_listings_cache=False,
        )

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key under ``bucket/prefix``."""
        fs = self.filesystem()
        root = f"{self.bucket}/{prefix}".rstrip("/")
        return sorted(fs.find(root)) if fs.exists(root) else []


@contextlib.contextmanager
def moto_s3(workdir: Path, bucket: str = "bridge-task-storage") -> Iterator[S3Server]:
    """``python -m moto.server`` on 127.0.0.1:<free port> with ``bucket`` created."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / "moto.log"
    proc = spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], {}, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"moto exited early: {log.read_text()[-2000:]}")
            try:
                httpx.get(f"{url}/moto-api/", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"moto not up after 60s: {log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.25)
        server = S3Server(endpoint_url=url, bucket=bucket)
        # CreateBucket without a location constraint (us-east-1); moto checks no signature.
        httpx.put(f"{url}/{bucket}", timeout=10).raise_for_status()
        yield server
    finally:
        stop_process(proc)
