"""The request budget: API requests per merchant and system in the last hour, against the limit.

Where the counts come from: :mod:`runtime.request_meter` (every request the shared clients
send, added to the ledger per minute by every process). Not the rate limits themselves:
Prefect's global concurrency limits keep no history and slots are taken several at a time;
not the sandboxes' logs, which production does not have.

The limit is the merchant's Prefect global concurrency limit (``ams-<merchant>``,
``returnly-<merchant>``; slot decay per second x 3600), or the documented default when none
is configured. Shown as the ``budget-<merchant>`` table artifact and in the nightly report;
above ``WARN_SHARE`` of the limit the row says so and a warning is logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from ledger import Ledger
from runtime.rate_gate import (
    AMS_REQUESTS_PER_HOUR,
    RETURNLY_REQUESTS_PER_HOUR,
    limit_problem,
    rate_limit_name,
    read_limit,
)
from runtime.request_meter import METER, minute
from runtime.resources import get_ledger
from stages.budget import WARN_SHARE, BudgetRow
from tasks.artifacts import artifact_key, prefect_available, publish_artifact

logger = logging.getLogger(__name__)

SYSTEMS = ("ams", "returnly")
WINDOW = timedelta(hours=1)
DAY = timedelta(days=1)
KEEP = timedelta(days=8)
"""Minutes older than this are pruned when the budget is published."""


def budget_rows(
    merchant: str,
    counts: Mapping[tuple[str, datetime], int],
    limits: Mapping[str, tuple[float, str]],
    now: datetime,
) -> list[BudgetRow]:
    """Per system: requests in the hour before ``now`` (whole minutes) against its limit, and
    the busiest clock hour of the day before ``now``."""
    since = minute(now) - WINDOW + timedelta(minutes=1)
    day = minute(now) - DAY
    rows = []
    for system in SYSTEMS:
        minutes = [n for (s, m), n in counts.items() if s == system and m >= since]
        hours: Counter[datetime] = Counter()
        for (s, m), n in counts.items():
            if s == system and m > day:
                hours[m.replace(minute=0)] += n
        limit, source = limits[system]
        rows.append(
            BudgetRow(
                merchant,
                system,
                sum(minutes),
                limit,
                source,
                max(minutes, default=0),
                max(hours.values(), default=0),
            )
        )
    return rows


def configured_limits(merchant: str) -> dict[str, tuple[float, str]]:
    """Requests per hour per system from the merchant's Prefect rate limits, else defaults."""
    out = {
        "ams": (AMS_REQUESTS_PER_HOUR, "default"),
        "returnly": (RETURNLY_REQUESTS_PER_HOUR, "default"),
    }
    if not prefect_available():
        return out
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            for system in SYSTEMS:
                name = rate_limit_name(system, merchant)
                limit = read_limit(client, name)
                if limit is not None and limit_problem(limit) is None:
                    out[system] = ((limit.slot_decay_per_second or 0.0) * 3600.0, name)
    except Exception as exc:
        logger.warning("rate limits of %s unreadable, budget uses the defaults: %s", merchant, exc)
    return out


def merchant_budget(
    merchant: str, *, ledger: Ledger, now: datetime | None = None
) -> list[BudgetRow]:
    """The merchant's budget now, from the ledger's counts (this process's flushed first)."""
    now = now or datetime.now(UTC)
    METER.flush()
    counts = ledger.request_counts(merchant, minute(now) - DAY)
    rows = budget_rows(merchant, counts, configured_limits(merchant), now)
    for row in rows:
        if row.warning:
            logger.warning(
                "request budget of %s on %s: %d in the last hour, busiest hour of the day %d, "
                "limit %d per hour (%s)",
                merchant,
                row.system,
                row.last_hour,
                row.busiest_hour,
                round(row.limit_per_hour),
                row.status,
            )
    return rows


def budget_artifact_key(merchant: str) -> str:
    """The table artifact's key (artifact keys allow lower case, digits and dashes)."""
    return artifact_key("budget", merchant, squeeze=True)


def publish_budget(
    merchant: str, *, ledger: Ledger, now: datetime | None = None
) -> list[BudgetRow]:
    """Write the ``budget-<merchant>`` table artifact; old minutes are pruned."""
    rows = merchant_budget(merchant, ledger=ledger, now=now)
    ledger.prune_request_counts((now or datetime.now(UTC)) - KEEP)
    warned = [r.system for r in rows if r.warning]
    note = f"; WARNING: {', '.join(warned)} above {WARN_SHARE:.0%}" if warned else ""
    publish_artifact(
        "table",
        budget_artifact_key(merchant),
        json.dumps([r.as_row() for r in rows]),
        f"{merchant}: API requests in the last hour against the rate limits{note}",
    )
    return rows


PUBLISH_EVERY_S = 60.0
"""The artifact is refreshed after stage runs at most this often per merchant and process."""
_published_at: dict[str, float] = {}
_published_lock = threading.Lock()


def refresh_budget(merchant: str) -> bool:
    """After a stage run: publish the budget artifact unless this process did so recently."""
    now = time.monotonic()
    with _published_lock:
        if now - _published_at.get(merchant, -PUBLISH_EVERY_S) < PUBLISH_EVERY_S:
            return False
        _published_at[merchant] = now
    publish_budget(merchant, ledger=get_ledger())
    return True
