"""A request budget row (one system's requests in the last hour and the busiest hour of the
day against its hourly limit) and the nightly report's section. Prefect-free, so the report
(:mod:`stages.reconcile.report`) renders it; counting, reading the Prefect limits and publishing
the artifact is :mod:`tasks.budget`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WARN_SHARE = 0.8
"""Above this share of the hourly limit a merchant's budget row warns."""


@dataclass(frozen=True)
class BudgetRow:
    """One system's use of one merchant's budget over the last hour."""

    merchant: str
    system: str
    last_hour: int
    limit_per_hour: float
    limit_source: str
    """``ams-<merchant>`` (the Prefect limit) or ``default``."""
    peak_minute: int
    """The busiest minute of the last hour (bursts the hourly sum hides)."""
    busiest_hour: int = 0
    """The busiest clock hour of the last day (what the nightly report is read for)."""

    @property
    def share(self) -> float:
        """Requests in the last hour over the hourly limit."""
        return self.last_hour / self.limit_per_hour if self.limit_per_hour else 0.0

    @property
    def busiest_share(self) -> float:
        """The busiest hour of the last day over the hourly limit."""
        return self.busiest_hour / self.limit_per_hour if self.limit_per_hour else 0.0

    @property
    def warning(self) -> bool:
        """The last hour, or an hour of the last day, above :data:`WARN_SHARE` of the limit."""
        return self.share > WARN_SHARE or self.busiest_share > WARN_SHARE

    @property
    def status(self) -> str:
        """``ok`` or what ran above the line."""
        if self.share > WARN_SHARE:
            return f"WARNING: last hour above {WARN_SHARE:.0%}"
        if self.busiest_share > WARN_SHARE:
            return f"WARNING: an hour of the last day above {WARN_SHARE:.0%}"
        return "ok"

    def as_row(self) -> dict[str, str | int]:
        """The artifact's table row."""
        return {
            "system": self.system,
            "requests last hour": self.last_hour,
            "limit per hour": round(self.limit_per_hour),
            "used": f"{self.share:.0%}",
            "busiest minute": self.peak_minute,
            "busiest hour (day)": self.busiest_hour,
            "limit from": self.limit_source,
            "status": self.status,
        }


def budget_markdown(rows: Sequence[BudgetRow]) -> list[str]:
    """The nightly report's section (empty without rows)."""
    if not rows:
        return []
    lines = [
        "## Request budget",
        "",
        "API requests the bridge sent per system (counted by its clients, all processes), "
        "against the merchant's rate limit.",
        "",
        "| system | requests | limit per hour | used | busiest minute | busiest hour of the day "
        "| limit from | status |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        r = row.as_row()
        lines.append(
            f"| {r['system']} | {r['requests last hour']} | {r['limit per hour']} | {r['used']} "
            f"| {r['busiest minute']} | {r['busiest hour (day)']} "
            f"| {r['limit from']} | {r['status']} |"
        )
    return [*lines, ""]
