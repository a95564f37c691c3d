"""Options of a chaos run (``bridge chaos``, ``make chaos``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_RETURNS = 10_000


@dataclass(frozen=True)
class ChaosOptions:
    """What to run: how many returns, which faults, how many kills, where to write."""

    returns: int = DEFAULT_RETURNS
    seed: int = 7
    fault_rate: float = 0.2
    duplicates: int = 3
    kills: int = 3
    summary_json: Path | None = None
    export: Path | None = None
    workdir: Path = Path("var/chaos")
    rate_limits: bool = False
    """Keep the deploy step's per-merchant rate limits (made loose) instead of deleting them:
    see :data:`deployments.chaos.stack.CHAOS_RATE_LIMITS` for why they are off by default."""
    progress: bool = True
    """Show the live progress bar (off: one log line per phase)."""

    def __post_init__(self) -> None:
        if self.returns < 1:
            raise ValueError("--returns must be at least 1")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("--fault-rate must be between 0 and 1")
        if self.duplicates < 1 or self.kills < 0:
            raise ValueError("--duplicates must be >= 1 and --kills >= 0")

    @property
    def chaos_timeout_s(self) -> float:
        """How long the faulted phase may last before the run moves on regardless."""
        return 600.0 + self.returns * 0.15

    @property
    def expected_chaos_s(self) -> float:
        """A guess of the faulted phase's length, to spread the kills over it."""
        return 90.0 + self.returns * 0.035
