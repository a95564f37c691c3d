"""The vectorised classification agrees with a plain row-by-row implementation of the rules.

The bench's loop (bench/reconcile.py) restates every rule one identity at a time; on
synthetic data scrambled across every status, receipt split, unexpected line, re-created
RMA and merchant, both must find the same rows with the same details.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd  # type: ignore[import-untyped]
from pandas.testing import assert_frame_equal  # type: ignore[import-untyped]

from core.drift import classify

BENCH = Path(__file__).resolve().parents[3] / "bench" / "reconcile.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_reconcile", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_reconcile", module)
    spec.loader.exec_module(module)
    return module


def _comparable(drift: pd.DataFrame) -> pd.DataFrame:
    cols = ["merchant", "customer_identifier", "return_id", "ams_id", "kind", "severity"]
    out = (
        drift[cols]
        .astype("str")
        .assign(
            detail=drift["detail"].astype("str"),
            healable=drift["healable"].astype(bool),
            age_hours=drift["age_hours"].astype(float).round(6),
        )
    )
    return out.sort_values(["merchant", "customer_identifier", "kind"]).reset_index(drop=True)


def test_classify_agrees_with_the_row_loop_on_scrambled_data() -> None:
    bench = _bench()
    returnly, ams, ledger, _ = bench.generate(3000, seed=21)
    returnly, ams, ledger = bench.perturb(returnly, ams, ledger, seed=5)
    vectorised = classify(returnly, ams, ledger, now=bench.NOW)
    looped = bench.loop_classify(returnly, ams, ledger)
    assert len(vectorised) > 1000
    assert set(vectorised["kind"].astype("str")) == set(bench.SCENARIOS_KINDS)
    assert_frame_equal(_comparable(vectorised), _comparable(looped))
