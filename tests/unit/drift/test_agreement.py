"""The vectorised drift classification checked without restating its rules.

On synthetic data (tests/support/drift_data.py) the classification must find exactly the drift
each identity was planted with, and on the same data scrambled across every status, receipt
split, unexpected line, re-created RMA and merchant it must not depend on row order or on the
other merchants' rows. The rules themselves are tested one by one in test_rules.py; the
benchmark's DuckDB and row-loop twins are checked against this code in tests/bench/.
"""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from pandas.testing import assert_frame_equal  # type: ignore[import-untyped]

from core.drift import classify
from tests.support.drift_data import NOW, SCENARIOS, SCENARIOS_KINDS, generate, perturb


def comparable(drift: pd.DataFrame) -> pd.DataFrame:
    """Drift rows as text, in a fixed order, for frame equality."""
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
    order = ["merchant", "customer_identifier", "kind", "ams_id", "return_id"]
    return out.sort_values(order).reset_index(drop=True)


def _scrambled() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    returnly, ams, ledger, _ = generate(3000, seed=21)
    return perturb(returnly, ams, ledger, seed=5)


def test_classify_finds_exactly_what_was_planted() -> None:
    returnly, ams, ledger, scenario = generate(5000)
    drift = classify(returnly, ams, ledger, now=NOW)
    names = np.array([s[0] for s in SCENARIOS])
    identity = drift["customer_identifier"].astype("str").str.split("-").str[1].astype(int)
    found = set(zip(identity - 100_000, drift["kind"].astype("str"), strict=True))
    planted = {(i, str(names[s])) for i, s in enumerate(scenario)}
    planted = {(i, kind) for i, kind in planted if not kind.startswith("clean_")}
    assert len(planted) > 500
    assert {kind for _, kind in planted} == set(SCENARIOS_KINDS)
    assert found == planted


def test_row_order_does_not_change_the_drift_found() -> None:
    returnly, ams, ledger = _scrambled()
    whole = classify(returnly, ams, ledger, now=NOW)
    shuffled = classify(
        returnly.sample(frac=1, random_state=1),
        ams.sample(frac=1, random_state=2),
        ledger.sample(frac=1, random_state=3),
        now=NOW,
    )
    assert len(whole) > 1000
    assert set(whole["kind"].astype("str")) == set(SCENARIOS_KINDS)
    assert_frame_equal(comparable(whole), comparable(shuffled))


def test_each_merchant_is_classified_on_its_own_rows() -> None:
    returnly, ams, ledger = _scrambled()
    merchants = sorted(set(returnly["merchant"]) | set(ams["merchant"]))
    assert len(merchants) == 2
    one_by_one = pd.concat(
        [
            classify(
                returnly[returnly["merchant"] == m],
                ams[ams["merchant"] == m],
                ledger[ledger["merchant"] == m],
                now=NOW,
            )
            for m in merchants
        ],
        ignore_index=True,
    )
    assert_frame_equal(comparable(classify(returnly, ams, ledger, now=NOW)), comparable(one_by_one))
