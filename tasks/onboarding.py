"""Onboarding a merchant, and checking later that it still holds: the steps and the
``check-merchant`` task (the ``onboard-check`` flow is :mod:`deployments.merchants`).

``bridge onboard`` validates both credentials with read-only calls, subscribes the webhook
receiver (Returnly webhooks, AMS ``rmaEvent`` callback) and saves the ``merchant-config``
block. The ``onboard-check`` deployment re-runs the read-only half for every merchant on a
schedule: credentials still accepted, subscriptions still pointing at the receiver. Each step
is reported as a :class:`Step`; secrets never appear in one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from prefect import task
from prefect.cache_policies import NONE
from pydantic import BaseModel

from clients.ams import AmsClient, CallbackCreate
from clients.errors import BridgeClientError
from clients.returnly import ReturnlyClient
from core.merchant import MerchantConfig
from runtime import (
    ams_client,
    limit_problem,
    load_merchant,
    rate_limit_name,
    read_limit,
    returnly_client,
)

RETURNLY_EVENTS = ("return.authorized", "return.canceled_by_merchant")
"""The events the receiver turns into intake and cancellation."""
AMS_MESSAGE_TYPE = "rmaEvent"
AMS_CALLBACK_API_VERSION = "2.0"
RATE_LIMITED_SYSTEMS = ("returnly", "ams")
"""Each merchant has one Prefect rate limit per system (``bridge deploy`` creates them)."""


class SubscriptionMissingError(LookupError):
    """A subscription the receiver needs is not there (reported as a failed step)."""


class Step(BaseModel):
    """One thing onboarding did or checked."""

    what: str
    ok: bool
    detail: str


def receiver_urls(receiver_base: str, merchant: str) -> tuple[str, str]:
    """The receiver's Returnly and AMS endpoints for a merchant."""
    base = receiver_base.rstrip("/")
    return f"{base}/webhooks/returnly/{merchant}", f"{base}/webhooks/ams/{merchant}"


def _attempt(what: str, call: Callable[[], str]) -> Step:
    """Run one call; a client error becomes a failed step (client errors carry no secrets)."""
    try:
        return Step(what=what, ok=True, detail=call())
    except (BridgeClientError, SubscriptionMissingError) as exc:
        return Step(what=what, ok=False, detail=f"{type(exc).__name__}: {exc}")


def check_credentials(returnly: ReturnlyClient, ams: AmsClient) -> list[Step]:
    """Read-only calls proving both tokens work: one page of returns, RMAs, callbacks."""

    def read_returns() -> str:
        first = next(iter(returnly.iter_returns(include=())), None)
        return "read a page of returns" + ("" if first else " (none yet)")

    def read_rmas() -> str:
        next(ams.iter_rmas(page_size=1, list_type="summary"), None)
        return "GET /rmas?limit=1 accepted"

    def read_callbacks() -> str:
        return f"GET /callbacks accepted ({len(ams.list_callbacks())} registered)"

    return [
        _attempt("returnly credentials", read_returns),
        _attempt("ams credentials (rmas)", read_rmas),
        _attempt("ams credentials (callbacks)", read_callbacks),
    ]


def subscribe(
    config: MerchantConfig,
    receiver_base: str,
    returnly: ReturnlyClient,
    ams: AmsClient,
    *,
    replace: bool,
    dry_run: bool = False,
) -> list[Step]:
    """Point the Returnly webhooks and the AMS callback at the receiver.

    An existing subscription to the same URL is kept unless ``replace`` (its secret or token
    may differ from the config's: Returnly never shows a webhook's secret again).
    """
    returnly_url, ams_url = receiver_urls(receiver_base, config.name)
    steps: list[Step] = []

    def webhook(event: str) -> str:
        same = [w for w in returnly.list_webhooks() if w.url == returnly_url and w.event == event]
        if same and not replace:
            return f"already subscribed ({returnly_url})"
        if dry_run:
            return f"would subscribe {returnly_url}"
        for old in same:
            returnly.delete_webhook(old.id)
        returnly.create_webhook(returnly_url, event, secret=config.returnly_webhook_secret)
        return f"{'re-' if same else ''}subscribed {returnly_url}"

    def callback() -> str:
        same = [
            c
            for c in ams.list_callbacks(AMS_MESSAGE_TYPE)
            if c.url == ams_url and c.message_type == AMS_MESSAGE_TYPE
        ]
        if same and not replace:
            return f"already registered ({ams_url})"
        if dry_run:
            return f"would register {ams_url}"
        if same:
            ams.delete_callbacks([c.id for c in same if c.id])
        ams.register_callbacks(
            [
                CallbackCreate(
                    url=ams_url,
                    message_type=AMS_MESSAGE_TYPE,
                    api_version=AMS_CALLBACK_API_VERSION,
                    token=config.ams_callback_token,
                )
            ]
        )
        return f"{'re-' if same else ''}registered {ams_url}"

    for event in RETURNLY_EVENTS:
        steps.append(_attempt(f"returnly webhook {event}", partial(webhook, event)))
    steps.append(_attempt(f"ams callback {AMS_MESSAGE_TYPE}", callback))
    return steps


def check_subscriptions(
    merchant: str, receiver_base: str | None, returnly: ReturnlyClient, ams: AmsClient
) -> list[Step]:
    """Each webhook and the callback exist and point at the receiver (any, if not given)."""
    paths = receiver_urls("", merchant)

    def points_here(url: str, path: str) -> bool:
        return url == f"{receiver_base.rstrip('/')}{path}" if receiver_base else url.endswith(path)

    def webhook(event: str) -> str:
        hooks = [w.url for w in returnly.list_webhooks() if w.event == event]
        if not any(points_here(u, paths[0]) for u in hooks):
            raise SubscriptionMissingError(
                f"no {event} webhook to the receiver ({len(hooks)} to other URLs)"
            )
        return "subscribed"

    def callback() -> str:
        urls = [c.url for c in ams.list_callbacks(AMS_MESSAGE_TYPE)]
        if not any(points_here(u, paths[1]) for u in urls):
            raise SubscriptionMissingError(
                f"no rmaEvent callback to the receiver ({len(urls)} to other URLs)"
            )
        return "registered"

    steps = [_attempt(f"returnly webhook {e}", partial(webhook, e)) for e in RETURNLY_EVENTS]
    steps.append(_attempt(f"ams callback {AMS_MESSAGE_TYPE}", callback))
    return steps


def check_rate_limits(merchant: str) -> list[Step]:
    """Both of the merchant's rate limits exist and throttle (else its calls run unthrottled)."""
    from prefect.client.orchestration import get_client

    steps: list[Step] = []
    with get_client(sync_client=True) as client:
        for system in RATE_LIMITED_SYSTEMS:
            name = rate_limit_name(system, merchant)
            limit = read_limit(client, name)
            problem = limit_problem(limit)
            if problem or limit is None:
                detail = f"{problem}: not throttled; run `bridge deploy --merchant {merchant}`"
                steps.append(Step(what=f"rate limit {name}", ok=False, detail=detail))
            else:
                rate = (limit.slot_decay_per_second or 0) * 3600
                detail = f"{limit.limit} burst, {rate:.0f}/hour"
                steps.append(Step(what=f"rate limit {name}", ok=True, detail=detail))
    return steps


@task(name="check-merchant", cache_policy=NONE, task_run_name="check-{merchant}")
def check_merchant(merchant: str, receiver_url: str | None) -> list[Step]:
    """Credentials, subscriptions and rate limits of one merchant (read-only)."""

    config = load_merchant(merchant)
    returnly, ams = returnly_client(config), ams_client(config)
    steps = check_credentials(returnly, ams)
    if all(s.ok for s in steps):
        steps += check_subscriptions(merchant, receiver_url, returnly, ams)
    return steps + check_rate_limits(merchant)
