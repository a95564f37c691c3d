"""Compare drift rows with a small expected table (identity, kind, severity, healable)."""

from __future__ import annotations

import pandas as pd  # type: ignore[import-untyped]
from pandas.testing import assert_frame_equal  # type: ignore[import-untyped]

from core.drift import DriftThresholds, MerchantThresholds, classify
from tests.unit.drift.builders import NOW

Expected = list[tuple[str, str, str, bool]]


def found(
    returnly: pd.DataFrame,
    ams: pd.DataFrame,
    ledger: pd.DataFrame,
    thresholds: DriftThresholds | MerchantThresholds | None = None,
) -> pd.DataFrame:
    """The classification projected on what the rule tests assert, in a stable order."""
    drift = classify(returnly, ams, ledger, now=NOW, thresholds=thresholds)
    out = pd.DataFrame(
        {
            "customer_identifier": drift["customer_identifier"].astype("str"),
            "kind": drift["kind"].astype("str"),
            "severity": drift["severity"].astype("str"),
            "healable": drift["healable"].astype(bool),
        }
    )
    return out.sort_values(["customer_identifier", "kind"]).reset_index(drop=True)


def expected(rows: Expected) -> pd.DataFrame:
    """The expected table, typed like :func:`found`."""
    frame = pd.DataFrame(rows, columns=["customer_identifier", "kind", "severity", "healable"])
    frame = frame.astype(
        {"customer_identifier": "str", "kind": "str", "severity": "str", "healable": bool}
    )
    return frame.sort_values(["customer_identifier", "kind"]).reset_index(drop=True)


def assert_drift(actual: pd.DataFrame, rows: Expected) -> None:
    """Exactly these drift rows, nothing more (precision and recall both 100%)."""
    assert_frame_equal(actual, expected(rows))
