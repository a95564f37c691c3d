"""Run the receiver under uvicorn: ``python -m webhooks --port N --dispatch task|event|both``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import uvicorn

from webhooks.app import create_app
from webhooks.events import prefect_api_url
from webhooks.protocol import uvicorn_options
from webhooks.settings import DISPATCH_MODES, WebhookSettings, build_dispatcher

logger = logging.getLogger("webhooks")


def parse_args(argv: Sequence[str] | None, defaults: WebhookSettings) -> argparse.Namespace:
    """Command-line flags; each defaults to its ``BRIDGE_WEBHOOKS_*`` setting."""
    parser = argparse.ArgumentParser(prog="python -m webhooks", description=__doc__)
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port)
    parser.add_argument("--dispatch", choices=DISPATCH_MODES, default=defaults.dispatch)
    parser.add_argument("--max-body-bytes", type=int, default=defaults.max_body_bytes)
    parser.add_argument(
        "--signature-tolerance-s", type=float, default=defaults.signature_tolerance_s
    )
    parser.add_argument("--header-timeout-s", type=float, default=defaults.header_timeout_s)
    parser.add_argument("--body-timeout-s", type=float, default=defaults.body_timeout_s)
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Build the app from settings and flags and serve it until interrupted."""
    args = parse_args(argv, WebhookSettings())
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not prefect_api_url():
        # Without it, .delay() would go to a throwaway in-process server no worker reads.
        raise SystemExit("PREFECT_API_URL must point at the Prefect server the workers use")
    app = create_app(
        dispatcher=build_dispatcher(args.dispatch),
        max_body_bytes=args.max_body_bytes,
        signature_tolerance_s=args.signature_tolerance_s,
        body_timeout_s=args.body_timeout_s,
    )
    logger.info(
        "webhook receiver on http://%s:%d (dispatch=%s)", args.host, args.port, args.dispatch
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        **uvicorn_options(args.header_timeout_s),
    )
