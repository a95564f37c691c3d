"""The ``bridge`` command line: the sandboxes, onboarding and deploy, review, inbox, chaos.

Each command imports its work inside the command (``cli/*.py`` do the same): Prefect, the
stages and the deployments take 3 s or more to import (0.3 s for this module; measured on a
loaded 2-core machine), which ``bridge --help`` and ``bridge sandbox`` do not pay.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer

from core import settings as bridge_settings

app = typer.Typer(help="Returnly <-> AMS returns bridge.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Returnly <-> AMS returns bridge."""


@app.command()
def sandbox(
    returnly_port: int = typer.Option(0, help="Port for the Returnly sandbox (0 = a free port)."),
    ams_port: int = typer.Option(0, help="Port for the AMS sandbox (0 = a free port)."),
    seed: int = typer.Option(0, "--seed", help="Pre-load N varied returns into Returnly."),
) -> None:
    """Start both sandboxes on 127.0.0.1 and print their base URLs and tokens; Ctrl-C stops."""
    from sandbox.ams.app import create_app as create_ams
    from sandbox.returnly.app import create_app as create_returnly
    from sandbox.server import ThreadedServer

    returnly = ThreadedServer(create_returnly(seed_count=seed), returnly_port).start()
    ams = ThreadedServer(create_ams(), ams_port).start()
    account = bridge_settings.SANDBOX_ACCOUNT
    print(f"RETURNLY_BASE_URL={returnly.url}", flush=True)
    print(f"RETURNLY_API_TOKEN={bridge_settings.SANDBOX_RETURNLY_TOKEN}", flush=True)
    print(f"AMS_BASE_URL={ams.url}/{account}/api/v1", flush=True)
    print(f"AMS_API_TOKEN={bridge_settings.SANDBOX_AMS_TOKEN}", flush=True)
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        stop.wait()
    finally:
        returnly.stop()
        ams.stop()


from cli import onboard as _onboard  # noqa: E402 (operator commands, registered here)

app.command(name="onboard")(_onboard.onboard)
app.command(name="deploy")(_onboard.deploy)
app.command(name="onboard-check")(_onboard.onboard_check)

from cli import chaos as _chaos  # noqa: E402

app.command(name="chaos")(_chaos.chaos)

from cli import inbox as _inbox  # noqa: E402

app.add_typer(_inbox.app, name="inbox")

from cli import review as _review  # noqa: E402

app.add_typer(_review.app, name="review")

from cli import rejected as _rejected  # noqa: E402

app.command(name="rejected")(_rejected.rejected)


if __name__ == "__main__":
    app()
