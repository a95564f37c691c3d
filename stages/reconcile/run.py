"""One merchant's reconciliation without Prefect: fetch, build the frames, classify.

The Prefect tasks (:mod:`tasks.reconcile.tasks`) call these same functions; the scenario tests
and the end-to-end benchmark call them directly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from clients.ams import AmsClient
from core.drift import DriftThresholds, classify
from core.merchant import MerchantConfig
from ledger import Ledger
from platforms import PlatformLike
from stages.reconcile.fetch import DEFAULT_WORKERS, FetchTimings, Sides, fetch_sides
from stages.reconcile.ledger_frame import ledger_frame, refunded_return_ids
from stages.reconcile.window import Window


@dataclass(frozen=True, slots=True)
class Frames:
    """The three validated drift frames of one merchant, and how they were obtained."""

    returnly: pd.DataFrame
    ams: pd.DataFrame
    ledger: pd.DataFrame
    fetch: FetchTimings
    build_s: float
    returns_by_id: int = 0
    rmas_by_id: int = 0

    @property
    def counts(self) -> dict[str, int]:
        """Entities per side (returns, RMAs, ledger links)."""
        return {
            "returns": int(self.returnly["return_id"].nunique()),
            "rmas": int(self.ams["ams_id"].nunique()),
            "ledger_links": len(self.ledger),
        }


def thresholds_for(
    merchant: MerchantConfig, base: DriftThresholds | None = None
) -> DriftThresholds:
    """The merchant's drift thresholds: defaults (or ``base``) with its refund policy."""
    return (base or DriftThresholds()).with_policy(merchant.policy)


def build_frames(merchant: MerchantConfig, sides: Sides, ledger: Ledger) -> Frames:
    """Turn the fetched rows into the three frames (validated at the boundary)."""
    started = time.perf_counter()
    returnly = sides.returns.frame()
    ams = sides.rmas.frame()
    book = ledger_frame(merchant.name, sides.links, refunded_return_ids(ledger, merchant.name))
    return Frames(
        returnly=returnly,
        ams=ams,
        ledger=book,
        fetch=sides.timings,
        build_s=time.perf_counter() - started,
        returns_by_id=sides.returns_by_id,
        rmas_by_id=sides.rmas_by_id,
    )


def fetch_frames(
    merchant: MerchantConfig,
    window: Window,
    *,
    returnly: PlatformLike,
    ams: AmsClient,
    ledger: Ledger,
    workers: int = DEFAULT_WORKERS,
) -> Frames:
    """Fetch both sides for ``window`` and build the frames."""
    sides = fetch_sides(
        merchant, window, returnly=returnly, ams=ams, ledger=ledger, workers=workers
    )
    return build_frames(merchant, sides, ledger)


def detect_drift(
    merchant: MerchantConfig,
    frames: Frames,
    window: Window,
    thresholds: DriftThresholds | None = None,
) -> pd.DataFrame:
    """Classify the frames: one row per (return, drift kind), most severe first."""
    return classify(
        frames.returnly,
        frames.ams,
        frames.ledger,
        now=window.now,
        thresholds=thresholds_for(merchant, thresholds),
    )
