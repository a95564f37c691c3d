"""``bridge onboard`` (one merchant, one validated step) and ``bridge deploy`` (the deploy step).

Secrets are read from options or, better (shell history, ``ps``), from ``BRIDGE_ONBOARD_*``
environment variables, wrapped as ``SecretStr`` at once, and never printed. Prefect and the
clients are imported inside the commands so ``bridge sandbox`` stays fast.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import SecretStr, ValidationError

if TYPE_CHECKING:
    from core.merchant import MerchantConfig
    from deployments.merchants import Step

ENV = "BRIDGE_ONBOARD_"
RETURNLY_URL = "https://api.returnly.com"
AMS_URL = "https://app.masonhub.co"


def _secret(value: str | None, previous: SecretStr | None, generate: bool) -> SecretStr | None:
    if value:
        return SecretStr(value)
    if previous is not None:
        return previous
    return SecretStr(secrets.token_urlsafe(32)) if generate else None


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def onboard(
    name: str = typer.Argument(..., help="Merchant slug: the block's name, used in URLs/tags."),
    receiver_url: str = typer.Option(
        "", help="Base URL of the webhook receiver (https in production)."
    ),
    store_url: str = typer.Option("https://shop.example.com", help="The merchant's store."),
    returnly_base_url: str = typer.Option(RETURNLY_URL),
    returnly_api_token: str = typer.Option(
        "", envvar=f"{ENV}RETURNLY_API_TOKEN", show_default=False, help="Returnly API token."
    ),
    returnly_api_version: str = typer.Option("2020-08"),
    returnly_refund_path: str = typer.Option("/refunds.json"),
    returnly_webhook_secret: str = typer.Option(
        "",
        envvar=f"{ENV}RETURNLY_WEBHOOK_SECRET",
        show_default=False,
        help="Webhook signing secret (default: the saved one, else generated).",
    ),
    ams_base_url: str = typer.Option(AMS_URL, help="AMS host (sandbox.masonhub.co to test)."),
    ams_account: str = typer.Option("", help="AMS account slug (default: the merchant name)."),
    ams_api_token: str = typer.Option(
        "", envvar=f"{ENV}AMS_API_TOKEN", show_default=False, help="AMS bearer token."
    ),
    ams_callback_token: str = typer.Option(
        "",
        envvar=f"{ENV}AMS_CALLBACK_TOKEN",
        show_default=False,
        help="Token AMS sends with callbacks (default: the saved one, else generated).",
    ),
    timezone: str = typer.Option("UTC", help="IANA timezone of the merchant."),
    policy_file: Annotated[
        Path | None, typer.Option(help="JSON MerchantPolicy (reason codes...).")
    ] = None,
    skip_subscriptions: bool = typer.Option(False, help="Validate and save only."),
    overwrite: bool = typer.Option(False, help="Replace a saved merchant of that name."),
    dry_run: bool = typer.Option(False, help="Validate and print the plan; change nothing."),
) -> None:
    """Onboard a merchant: validate both credentials, subscribe the receiver, save the block."""
    from clients.ams import AmsClient
    from clients.returnly import ReturnlyClient
    from core.merchant import MerchantConfig
    from deployments import merchants as onboarding

    previous = _saved_merchant(name, required=not dry_run)
    if previous is not None and not overwrite:
        raise _fail(f"merchant-config/{name} exists; pass --overwrite to replace it")
    try:
        policy = json.loads(policy_file.read_text(encoding="utf-8")) if policy_file else None
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot read --policy-file: {exc}") from None
    fields = {
        "returnly_api_token": _secret(
            returnly_api_token, _old(previous, "returnly_api_token"), False
        ),
        "returnly_webhook_secret": _secret(
            returnly_webhook_secret, _old(previous, "returnly_webhook_secret"), True
        ),
        "ams_api_token": _secret(ams_api_token, _old(previous, "ams_api_token"), False),
        "ams_callback_token": _secret(
            ams_callback_token, _old(previous, "ams_callback_token"), True
        ),
    }
    missing = [k for k, v in fields.items() if v is None]
    if missing:
        raise _fail(f"missing {', '.join(missing)} (options or {ENV}* variables)")
    try:
        config = MerchantConfig.model_validate(
            {
                "name": name,
                "store_url": store_url,
                "returnly_base_url": returnly_base_url,
                "returnly_api_version": returnly_api_version,
                "returnly_refund_path": returnly_refund_path,
                "ams_base_url": ams_base_url,
                "ams_account": ams_account or name,
                "timezone": timezone,
                **({"policy": policy} if policy is not None else {}),
                **fields,
            }
        )
    except ValidationError as exc:
        bad = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise _fail(f"invalid merchant configuration: {bad}") from None
    if not skip_subscriptions and not receiver_url:
        raise _fail("--receiver-url is required (or --skip-subscriptions)")

    returnly = ReturnlyClient(
        base_url=config.returnly_base_url,
        api_token=config.returnly_api_token,
        api_version=config.returnly_api_version,
        page_size=1,
    )
    ams = AmsClient(
        base_url=config.ams_base_url, account=config.ams_account, api_token=config.ams_api_token
    )
    typer.echo(f"merchant {name}: Returnly {returnly.base_url}, AMS {ams.base_url}")
    steps = onboarding.check_credentials(returnly, ams)
    if all(s.ok for s in steps) and not skip_subscriptions:
        replace = previous is None or any(
            getattr(previous, k) != getattr(config, k)
            for k in ("returnly_webhook_secret", "ams_callback_token")
        )
        steps += onboarding.subscribe(
            config, receiver_url, returnly, ams, replace=replace, dry_run=dry_run
        )
    if all(s.ok for s in steps):
        steps += _save(config, replaced=previous is not None, dry_run=dry_run)
    for s in steps:
        typer.echo(f"  {'ok  ' if s.ok else 'FAIL'} {s.what}: {s.detail}")
    if not all(s.ok for s in steps):
        typer.echo("onboarding stopped: the merchant block was not saved", err=True)
        raise typer.Exit(1)


def _old(previous: MerchantConfig | None, field: str) -> SecretStr | None:
    value = getattr(previous, field, None)
    return value if isinstance(value, SecretStr) else None


def _saved_merchant(name: str, *, required: bool) -> MerchantConfig | None:
    """The merchant already saved as a block, if a Prefect API is configured."""
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        if required:
            raise _fail("PREFECT_API_URL is not set: the block would land in a throwaway database")
        return None
    from runtime import block_merchant, reset_runtime

    reset_runtime()  # always read the server's current state
    return block_merchant(name)


def _save(config: MerchantConfig, *, replaced: bool, dry_run: bool) -> list[Step]:
    """Save the block and create the merchant's rate limits."""
    from deployments.deploy import RateLimits, ensure_rate_limits
    from deployments.merchants import Step
    from runtime import reset_runtime
    from runtime.blocks import MerchantBlock

    what = f"block merchant-config/{config.name}"
    if dry_run:
        return [Step(what=what, ok=True, detail="would save (dry run)")]
    MerchantBlock.from_config(config).save(config.name, overwrite=replaced)
    reset_runtime()  # this process may have cached "no such merchant" a moment ago
    limits = ensure_rate_limits([config.name], RateLimits())
    return [
        Step(what=what, ok=True, detail="replaced" if replaced else "saved"),
        *(Step(what=f"rate limit {k}", ok=True, detail=v) for k, v in sorted(limits.items())),
    ]


def deploy(
    merchant: Annotated[
        list[str] | None, typer.Option(help="Merchants to create rate limits for (all).")
    ] = None,
    ams_per_hour: float = typer.Option(1000.0, help="AMS requests per hour per merchant."),
    returnly_per_hour: float = typer.Option(3600.0, help="Returnly requests per hour."),
    burst: int = typer.Option(10, help="Requests allowed back to back."),
    skip_deploy: bool = typer.Option(False, help="Only the pool, limits, block type, automation."),
    paused: bool = typer.Option(False, help="Deactivate every schedule (staging)."),
    alert_block: str = typer.Option(
        "",
        envvar="BRIDGE_ALERT_BLOCK",
        help="Notification block failed runs alert: <block-type-slug>/<name>.",
    ),
    task_storage: str = typer.Option(
        "",
        envvar="BRIDGE_TASK_STORAGE",
        help="Background tasks' parameters and results, reachable from every host: "
        "s3://bucket/prefix or a directory (default: the existing block, else this host's "
        "Prefect storage directory).",
    ),
    task_storage_endpoint: str = typer.Option(
        "", envvar="BRIDGE_TASK_STORAGE_ENDPOINT_URL", help="S3-compatible endpoint URL."
    ),
    merchant_queue: Annotated[
        list[str] | None,
        typer.Option(
            help="Give this merchant its own work queue (merchant-<name>) and copies of the "
            "all-merchant deployments on it; repeatable. Env: BRIDGE_MERCHANT_QUEUES (comma list)."
        ),
    ] = None,
) -> None:
    """Create the work pool, rate limits, block type, task storage and alert automation, then
    deploy all of prefect.yaml (and the dedicated merchants' queues and deployments)."""
    import os

    from deployments.deploy import MERCHANT_QUEUES_ENV, RateLimits
    from deployments.deploy import deploy as run_deploy

    try:
        report = run_deploy(
            merchants=merchant or None,
            limits=RateLimits(ams_per_hour, returnly_per_hour, burst),
            skip_deploy=skip_deploy,
            paused=paused,
            alert_block=alert_block or None,
            task_storage=task_storage or None,
            task_storage_endpoint=task_storage_endpoint or None,
            merchant_queues=merchant_queue
            or [m.strip() for m in os.environ.get(MERCHANT_QUEUES_ENV, "").split(",") if m.strip()],
        )
    except (RuntimeError, ValueError) as exc:  # no API URL, no such alert block, deploy failed
        raise _fail(str(exc), code=1) from None
    typer.echo("\n".join(report.lines()))


def onboard_check(
    merchant: str = typer.Option("all", help="A merchant name, a comma list, or all."),
    receiver_url: str = typer.Option(
        "", help="Receiver base URL the subscriptions must point at (empty: any)."
    ),
) -> None:
    """Re-check merchants: credentials (read-only), subscriptions, rate limits; exit 1 on any
    failure. The ``onboard-check`` deployment runs the same checks every morning."""
    from prefect.settings import get_current_settings

    from deployments.merchants import Step, check_merchant
    from runtime import merchant_names

    if not get_current_settings().api.url:
        raise _fail("PREFECT_API_URL is not set: blocks and rate limits live on the server")
    failed: list[str] = []
    for name in merchant_names(merchant):
        try:
            steps = check_merchant.fn(name, receiver_url or None)
        except Exception as exc:  # reported per merchant, like the flow does
            steps = [Step(what="merchant", ok=False, detail=type(exc).__name__)]
        typer.echo(f"merchant {name}:")
        for s in steps:
            typer.echo(f"  {'ok  ' if s.ok else 'FAIL'} {s.what}: {s.detail}")
        if not all(s.ok for s in steps):
            failed.append(name)
    if failed:
        typer.echo(f"onboard check failed for merchant(s): {', '.join(failed)}", err=True)
        raise typer.Exit(1)
