"""What a reconciliation answers: per-merchant counts, healing steps, the flow's result."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from core.drift import KINDS, SEVERITIES

HealAction = Literal["intake", "completion"]

TOTAL_KEY = "total"
THRESHOLD_KEYS: frozenset[str] = frozenset({*SEVERITIES, *KINDS, TOTAL_KEY})
"""What ``fail_above`` may name: a severity, a drift kind, or ``total``."""
HEALED_OUTCOMES: frozenset[str] = frozenset({"created", "refunded", "already_done"})
"""Lifecycle outcomes after which a healed return needs nothing more."""


class HealStep(BaseModel):
    """One healing step: planned from a drift row, then (unless a dry run) its outcome."""

    kind: str
    customer_identifier: str
    return_id: str
    ams_id: str | None = None
    action: HealAction
    outcome: str = "planned"
    """``planned`` (dry run), a lifecycle outcome (created, refunded, ...), or ``failed``."""
    detail: str = ""


class MerchantReconcile(BaseModel):
    """One merchant's night: what was read, what drifted, what was healed, where it is."""

    merchant: str
    window_start: datetime
    now: datetime
    returns: int = 0
    rmas: int = 0
    ledger_links: int = 0
    total: int = 0
    by_kind: dict[str, int] = Field(default_factory=dict)
    by_severity: dict[str, int] = Field(default_factory=dict)
    healable: int = 0
    triage: dict[str, int] = Field(default_factory=dict)
    """Against the previous report: ``new``, ``still_open``, ``resolved``, ``explained``..."""
    refund_speed: dict[str, dict[str, float | int | None]] = Field(default_factory=dict)
    """Per span (``authorize_to_refund``...): returns, skipped, p50_h, p95_h, max_h."""
    healing: list[HealStep] = Field(default_factory=list)
    report_dir: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)

    def count(self, key: str) -> int:
        """The count ``fail_above`` compares for ``key`` (severity, kind or total)."""
        if key == TOTAL_KEY:
            return self.total
        return self.by_severity.get(key, self.by_kind.get(key, 0))

    @property
    def healed(self) -> int:
        """Healing steps that left the return repaired (or found it already repaired)."""
        return sum(step.outcome in HEALED_OUTCOMES for step in self.healing)

    @property
    def heal_failures(self) -> list[HealStep]:
        """Healing steps that raised."""
        return [step for step in self.healing if step.outcome == "failed"]


class ReconcileResult(BaseModel):
    """The flow's result: every merchant's counts, failures and threshold breaches."""

    merchant: str
    now: datetime
    days: int
    merchants: dict[str, MerchantReconcile] = Field(default_factory=dict)
    failed_merchants: dict[str, str] = Field(default_factory=dict)

    @property
    def total(self) -> int:
        """Drift rows over every merchant."""
        return sum(m.total for m in self.merchants.values())

    @property
    def by_severity(self) -> dict[str, int]:
        """Drift rows per severity over every merchant."""
        return _summed(m.by_severity for m in self.merchants.values())

    @property
    def by_kind(self) -> dict[str, int]:
        """Drift rows per kind over every merchant."""
        return _summed(m.by_kind for m in self.merchants.values())

    def breaches(self, fail_above: Mapping[str, int]) -> list[str]:
        """Per merchant, each count above its limit, as text (empty: all within limits)."""
        out: list[str] = []
        for name, result in sorted(self.merchants.items()):
            for key, limit in sorted(fail_above.items()):
                if result.count(key) > limit:
                    out.append(f"{name}: {key} {result.count(key)} > {limit}")
        return out


def _summed(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in parts:
        for key, value in part.items():
            out[key] = out.get(key, 0) + int(value)
    return out


def check_fail_above(fail_above: Mapping[str, int] | None) -> dict[str, int]:
    """Validate ``fail_above`` before any work: known keys, non-negative limits."""
    limits = dict(fail_above or {})
    unknown = sorted(set(limits) - THRESHOLD_KEYS)
    if unknown:
        known = ", ".join(sorted(THRESHOLD_KEYS))
        raise ValueError(f"fail_above: unknown key(s) {', '.join(unknown)} (known: {known})")
    negative = sorted(k for k, v in limits.items() if int(v) < 0)
    if negative:
        raise ValueError(f"fail_above: negative limit for {', '.join(negative)}")
    return {k: int(v) for k, v in limits.items()}
