"""Per-return outcomes of a stage run, and their roll-up for artifacts and flow results."""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import BaseModel, Field

from clients.ams.statuses import Stage
from core.mapping import customer_identifier_for
from core.merchant import MerchantConfig

Outcome = Literal[
    "created",
    "already_done",
    "skipped",
    "exception",
    "updated",
    "refunded",
    "held",
    "cancelled",
    "planned",
    "busy",
]


class ReturnOutcome(BaseModel):
    """What one stage did with one return."""

    merchant: str
    return_id: str
    outcome: Outcome
    detail: str = ""
    customer_identifier: str | None = None
    stage: Stage | None = None
    """The ledger stage the return is in after this outcome, when the stage moved or was seen
    (arrival sets it; completion takes the ``received`` ones): a value, not text in ``detail``."""

    @classmethod
    def of(
        cls,
        merchant: MerchantConfig,
        return_id: str,
        outcome: Outcome,
        detail: str = "",
        *,
        stage: Stage | None = None,
    ) -> ReturnOutcome:
        """An outcome for one return, carrying its derived AMS identifier."""
        return cls(
            merchant=merchant.name,
            return_id=return_id,
            outcome=outcome,
            detail=detail,
            customer_identifier=customer_identifier_for(return_id),
            stage=stage,
        )


class StageSummary(BaseModel):
    """The result of one stage run: counts by outcome and the ids behind them."""

    stage: str
    merchant: str
    processed: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    ids: dict[str, list[str]] = Field(default_factory=dict)
    failed_merchants: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def of(cls, stage: str, merchant: str, outcomes: list[ReturnOutcome]) -> StageSummary:
        """Roll per-return outcomes up."""
        ids: dict[str, list[str]] = {}
        for o in outcomes:
            ids.setdefault(o.outcome, []).append(o.return_id)
        return cls(
            stage=stage,
            merchant=merchant,
            processed=len(outcomes),
            counts=dict(Counter(o.outcome for o in outcomes)),
            ids=ids,
        )

    def merge(self, other: StageSummary) -> StageSummary:
        """Combine two merchants' (or two batches') summaries."""
        counts = Counter(self.counts)
        counts.update(other.counts)
        ids = {k: list(v) for k, v in self.ids.items()}
        for k, v in other.ids.items():
            ids.setdefault(k, []).extend(v)
        return StageSummary(
            stage=self.stage,
            merchant=self.merchant if self.merchant == other.merchant else "all",
            processed=self.processed + other.processed,
            counts=dict(counts),
            ids=ids,
            failed_merchants={**self.failed_merchants, **other.failed_merchants},
        )

    def markdown(self, id_limit: int = 20) -> str:
        """A short report for a Prefect markdown artifact."""
        lines = [f"# {self.stage}: {self.merchant}", "", f"processed: **{self.processed}**", ""]
        lines += ["| outcome | count | ids |", "|---|---:|---|"]
        for outcome in sorted(self.counts):
            shown = self.ids.get(outcome, [])[:id_limit]
            more = " …" if len(self.ids.get(outcome, [])) > id_limit else ""
            lines.append(f"| {outcome} | {self.counts[outcome]} | {', '.join(shown)}{more} |")
        for name, err in sorted(self.failed_merchants.items()):
            lines.append(f"\n**merchant {name} failed:** {err}")
        return "\n".join(lines) + "\n"
