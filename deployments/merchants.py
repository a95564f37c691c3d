"""The ``onboard-check`` flow: re-runs the read-only half of onboarding for every merchant on a
schedule (credentials still accepted, subscriptions still pointing at the receiver, rate limits
in place). The steps and the ``check-merchant`` task are :mod:`tasks.onboarding`; they are
imported here too because ``bridge onboard`` reads them from this module.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.common import artifact_key, tag_run_with_merchants
from runtime import merchant_names
from tasks.onboarding import (
    AMS_CALLBACK_API_VERSION,
    AMS_MESSAGE_TYPE,
    RATE_LIMITED_SYSTEMS,
    RETURNLY_EVENTS,
    Step,
    SubscriptionMissingError,
    check_credentials,
    check_merchant,
    check_rate_limits,
    check_subscriptions,
    receiver_urls,
    subscribe,
)

__all__ = [
    "AMS_CALLBACK_API_VERSION",
    "AMS_MESSAGE_TYPE",
    "RATE_LIMITED_SYSTEMS",
    "RETURNLY_EVENTS",
    "Step",
    "SubscriptionMissingError",
    "check_credentials",
    "check_merchant",
    "check_rate_limits",
    "check_subscriptions",
    "onboard_check",
    "receiver_urls",
    "subscribe",
]


@flow(name="onboard-check", flow_run_name="onboard-check-{merchant}")
def onboard_check(merchant: str = "all", receiver_url: str | None = None) -> dict[str, list[Step]]:
    """Check each merchant's credentials (read-only), that its webhooks still reach us, and
    that its rate limits exist (a merchant without them would run unthrottled).

    Args:
        merchant: A merchant name, a comma list, or ``all``.
        receiver_url: Base URL of the webhook receiver the subscriptions must point at;
            empty accepts any receiver URL for the merchant.
    """

    logger = get_run_logger()
    results: dict[str, list[Step]] = {}
    names = merchant_names(merchant)
    tag_run_with_merchants(names)
    for name in names:
        try:
            results[name] = check_merchant(name, receiver_url)
        except Exception as exc:
            logger.exception("onboard check failed for merchant %s", name)
            results[name] = [Step(what="merchant", ok=False, detail=type(exc).__name__)]
    rows = [
        f"| {name} | {s.what} | {'ok' if s.ok else '**FAILED**'} | {s.detail} |"
        for name, steps in sorted(results.items())
        for s in steps
    ]
    failed = sorted(name for name, steps in results.items() if not all(s.ok for s in steps))
    create_markdown_artifact(
        key=artifact_key("onboard-check", merchant),
        markdown="# Onboard check\n\n| merchant | check | result | detail |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n",
        description=f"{len(results) - len(failed)} of {len(results)} merchants OK",
    )
    if failed:
        raise RuntimeError(f"onboard check failed for merchant(s): {', '.join(failed)}")
    return results
