"""Classify every identity of both systems (and the ledger) into drift rows.

``classify`` validates the three frames at the boundary, folds them to one row per identity
(:mod:`core.drift.pairs`), runs every rule of the table (:mod:`core.drift.rules`) as column
operations, and returns one row per (identity, kind). No row loops: the only Python loop is
over the ten rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from core.drift.frames import AMS_LINES, LEDGER, RETURNLY_LINES, validate_frame
from core.drift.hits import SEVERITIES, RuleInput
from core.drift.pairs import build_pairs
from core.drift.rules import KINDS, RULES
from core.drift.thresholds import DriftThresholds, MerchantThresholds, as_merchant_thresholds

KIND_DTYPE: Final = pd.CategoricalDtype(list(KINDS))
SEVERITY_DTYPE: Final = pd.CategoricalDtype(list(SEVERITIES), ordered=True)
_HOUR: Final = pd.Timedelta(hours=1)
_ACTIONS: Final = np.array([rule.action for rule in RULES], dtype=object)
_HEALABLE: Final = np.array([rule.healable for rule in RULES], dtype=bool)


def _utc(now: datetime | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(now)
    if stamp.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return stamp.tz_convert("UTC").as_unit("ns")


def classify(
    returnly_lines: pd.DataFrame,
    ams_lines: pd.DataFrame,
    ledger: pd.DataFrame,
    *,
    now: datetime | pd.Timestamp,
    thresholds: DriftThresholds | MerchantThresholds | None = None,
) -> pd.DataFrame:
    """Drift rows, most severe first, then oldest first (schema :data:`frames.DRIFT`).

    A return can produce several kinds; a clean pair produces none. ``healable`` is the
    rule's healability, withdrawn when any finding on the same return is ambiguous.
    """
    validate_frame(returnly_lines, RETURNLY_LINES, "returnly")
    validate_frame(ams_lines, AMS_LINES, "ams")
    validate_frame(ledger, LEDGER, "ledger")
    stamp = _utc(now)
    pairs = build_pairs(returnly_lines, ams_lines, ledger, as_merchant_thresholds(thresholds))
    x = RuleInput(pairs, stamp)
    found = []
    for code, rule in enumerate(RULES):
        hits = rule.find(x)
        found.append(hits.assign(kind=np.int8(code)))
    hits = pd.concat(found, ignore_index=True)

    keys = hits["key"].to_numpy()
    kind = hits["kind"].to_numpy().astype(np.int64)
    blocked = np.isin(keys, keys[hits["ambiguous"].to_numpy()])
    since = hits["since"].astype("datetime64[ns, UTC]")
    age_hours = ((stamp - since) / _HOUR).astype(np.float64)
    drift = pairs.labels(keys)
    drift["kind"] = pd.Categorical.from_codes(kind, dtype=KIND_DTYPE)
    drift["severity"] = pd.Categorical.from_codes(
        hits["severity"].to_numpy().astype(np.int64), dtype=SEVERITY_DTYPE
    )
    drift["since"] = since.array
    drift["age_hours"] = age_hours.to_numpy()
    drift["age_days"] = age_hours.to_numpy() / 24.0
    drift["detail"] = hits["detail"].astype("str").array
    drift["suggested_action"] = pd.array(_ACTIONS[kind], dtype="str")
    drift["healable"] = _HEALABLE[kind] & ~blocked
    return sort_drift(drift)


def sort_drift(drift: pd.DataFrame) -> pd.DataFrame:
    """Most severe first, then oldest, then by merchant, identity and kind (deterministic)."""
    order = pd.DataFrame(
        {
            "severity": -drift["severity"].cat.codes.to_numpy(dtype=np.int64),
            "age": -drift["age_hours"].fillna(-np.inf).to_numpy(),
            "merchant": drift["merchant"].to_numpy(),
            "customer_identifier": drift["customer_identifier"].to_numpy(),
            "kind": drift["kind"].cat.codes.to_numpy(dtype=np.int64),
        }
    ).sort_values(["severity", "age", "merchant", "customer_identifier", "kind"], kind="stable")
    return drift.iloc[order.index.to_numpy()].reset_index(drop=True)
