"""Drift triage: known or new, explained or not, since when, and what went away since last time.

Inputs are plain frames the reconcile flow builds: tonight's drift (:func:`classify`), the
merchant's open review exceptions (:data:`EXCEPTIONS`) and the previous report's drift rows
(:data:`PREVIOUS`, empty on the first night). :func:`triage` adds to every drift row:

- ``exception_id``, ``exception_reason``, ``explained``: the oldest open exception on the same
  identity whose reason explains the row's kind (:mod:`core.drift.explain`);
- ``suggested_action``: the exception's action when explained, else the rule's own;
- ``healable``: withdrawn when explained (re-running a stage would meet the same hold);
- ``first_seen``: carried from the previous report for the same (merchant, identity, kind),
  else tonight's instant; ``triage``: ``new`` (not in the previous report) or ``still_open``;
- ``age_bucket``: ``age_days`` (time since the drift began) in :data:`AGE_BUCKETS`.

Rows of the previous report that are gone tonight are the ``resolved`` ones. Column operations
and merges only: the one Python loop is over the explanation table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from core.drift.classify import KIND_DTYPE
from core.drift.explain import ACTIONS, EXPLAINS, reason_family
from core.drift.frames import BOOL, INT, STR, TS, Schema, validate_frame

EXCEPTIONS: Final[Schema] = {
    "merchant": STR,
    "exception_id": INT,
    "reason": STR,
    "customer_identifier": STR,
}
"""Open review exceptions, one row each, with the drift identity they concern."""

PREVIOUS: Final[Schema] = {
    "merchant": STR,
    "customer_identifier": STR,
    "kind": STR,
    "severity": STR,
    "first_seen": TS,
    "detail": STR,
}
"""The previous report's drift rows (what ``resolved`` and ``first_seen`` are read from)."""

TRIAGE: Final[Schema] = {
    "triage": "category",
    "first_seen": TS,
    "age_bucket": "category",
    "explained": BOOL,
    "exception_id": "Int64",
    "exception_reason": STR,
}
"""Columns :func:`triage` adds to the drift frame."""

AGE_BUCKETS: Final = ("0-1", "2-3", "4-7", "8-14", "15-30", ">30")
"""Days since the drift began, in whole days: 0-1 is under two days, >30 is 31 and more."""
AGE_BUCKET_DTYPE: Final = pd.CategoricalDtype(list(AGE_BUCKETS), ordered=True)
TRIAGE_DTYPE: Final = pd.CategoricalDtype(["new", "still_open"])
_EDGES: Final = np.array([0.0, 2.0, 4.0, 8.0, 15.0, 31.0])
_KEY: Final = ["merchant", "customer_identifier", "kind"]


@dataclass(frozen=True, slots=True)
class TriageCounts:
    """Tonight against the previous report: new, still open, resolved; explained or not."""

    new: int
    still_open: int
    resolved: int
    explained: int
    unexplained: int

    def as_dict(self) -> dict[str, int]:
        """The counts by name (for ``counts.json`` and the flow's result)."""
        return {
            "new": self.new,
            "still_open": self.still_open,
            "resolved": self.resolved,
            "explained": self.explained,
            "unexplained": self.unexplained,
        }


@dataclass(frozen=True, slots=True)
class Triage:
    """Tonight's triaged drift, the previous report's rows resolved since, and its instant."""

    drift: pd.DataFrame
    resolved: pd.DataFrame
    previous_at: pd.Timestamp | None
    """When the previous report was made (``None``: the first night, every row is new)."""

    @property
    def counts(self) -> TriageCounts:
        """Counts of new, still open, resolved, explained and unexplained rows."""
        new = int((self.drift["triage"] == "new").sum())
        explained = int(self.drift["explained"].sum())
        return TriageCounts(
            new=new,
            still_open=len(self.drift) - new,
            resolved=len(self.resolved),
            explained=explained,
            unexplained=len(self.drift) - explained,
        )


def age_buckets(age_days: pd.Series | np.ndarray) -> pd.Categorical:
    """Each age in days as its :data:`AGE_BUCKETS` label (negative: 0-1; NaN stays missing)."""
    days = np.asarray(age_days, dtype=np.float64)
    codes = np.searchsorted(_EDGES, np.maximum(days, 0.0), side="right") - 1
    return pd.Categorical.from_codes(np.where(np.isnan(days), -1, codes), dtype=AGE_BUCKET_DTYPE)


def _explain(drift: pd.DataFrame, exceptions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per drift row: the explaining exception's position in ``exceptions`` (-1: none), family."""
    n = len(drift)
    where, family = np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64)
    known = exceptions.assign(
        family=reason_family(exceptions["reason"]), pos=np.arange(len(exceptions))
    )
    known = known[known["family"].to_numpy() >= 0]
    if n == 0 or known.empty:
        return where, family
    rows = pd.DataFrame(
        {
            "row": np.arange(n),
            "merchant": drift["merchant"].to_numpy(),
            "customer_identifier": drift["customer_identifier"].to_numpy(),
            "kind": drift["kind"].astype("str").astype(KIND_DTYPE).cat.codes.to_numpy(),
        }
    )
    pairs = rows.merge(
        known[["merchant", "customer_identifier", "exception_id", "family", "pos"]],
        on=["merchant", "customer_identifier"],
    )
    fits = EXPLAINS[pairs["family"].to_numpy(), pairs["kind"].to_numpy().astype(np.int64)]
    best = (
        pairs[fits]
        .sort_values(["row", "exception_id"], kind="stable")
        .drop_duplicates("row", keep="first")
    )
    picked = best["row"].to_numpy()
    where[picked] = best["pos"].to_numpy()
    family[picked] = best["family"].to_numpy()
    return where, family


def _previous_rows(previous: pd.DataFrame) -> pd.DataFrame:
    keyed = previous.assign(kind=previous["kind"].astype("str"))
    return keyed.drop_duplicates(_KEY, keep="first").reset_index(drop=True)


def triage(
    drift: pd.DataFrame,
    exceptions: pd.DataFrame,
    previous: pd.DataFrame,
    *,
    now: datetime | pd.Timestamp,
    previous_at: datetime | pd.Timestamp | None,
) -> Triage:
    """Triage tonight's drift (see the module docstring); the drift's row order is kept."""
    validate_frame(exceptions, EXCEPTIONS, "exceptions")
    validate_frame(previous, PREVIOUS, "previous")
    stamp = pd.Timestamp(now).tz_convert("UTC").as_unit("ns")
    before = _previous_rows(previous)
    keys = drift[_KEY].assign(kind=drift["kind"].astype("str"))
    seen = keys.merge(before[[*_KEY, "first_seen"]], on=_KEY, how="left", validate="m:1")
    was_there = seen["first_seen"].notna().to_numpy(dtype=bool)
    first_seen = seen["first_seen"].astype(TS).where(was_there, stamp).astype(TS)

    where, family = _explain(drift, exceptions)
    explained = where >= 0
    pick = np.maximum(where, 0)
    has_any = len(exceptions) > 0
    ids = pd.Series(exceptions["exception_id"].to_numpy()[pick] if has_any else pick)
    reasons = pd.Series(exceptions["reason"].to_numpy()[pick] if has_any else pick).astype("str")
    explained_action = (
        "Open review exception #"
        + ids.astype("str")
        + " ("
        + reasons
        + ") explains it. "
        + pd.Series(ACTIONS[np.maximum(family, 0)], dtype="str")
    )
    action = drift["suggested_action"].reset_index(drop=True).where(~explained, explained_action)

    out = drift.copy()
    out["suggested_action"] = action.astype("str").array
    out["healable"] = drift["healable"].to_numpy(dtype=bool) & ~explained
    out["triage"] = pd.Categorical.from_codes(np.where(was_there, 1, 0), dtype=TRIAGE_DTYPE)
    out["first_seen"] = first_seen.array
    out["age_bucket"] = age_buckets(drift["age_days"])
    out["explained"] = explained
    out["exception_id"] = ids.where(explained).astype("Int64").array
    out["exception_reason"] = reasons.where(explained).astype("str").array

    gone = before.merge(keys.drop_duplicates(), on=_KEY, how="left", indicator=True)
    resolved = gone[gone["_merge"].to_numpy() == "left_only"].drop(columns="_merge")
    at = None if previous_at is None else pd.Timestamp(previous_at).tz_convert("UTC")
    return Triage(drift=out, resolved=resolved.reset_index(drop=True), previous_at=at)


def bucket_table(drift: pd.DataFrame) -> pd.DataFrame:
    """Rows per age bucket (every bucket, youngest first): total, new, explained, unexplained."""
    bucket = pd.Series(drift["age_bucket"].astype(AGE_BUCKET_DTYPE).to_numpy())
    new = (drift["triage"] == "new").to_numpy(dtype=bool)
    explained = drift["explained"].to_numpy(dtype=bool)
    parts = pd.DataFrame(
        {
            "bucket": bucket,
            "rows": np.ones(len(drift), dtype=np.int64),
            "new tonight": new.astype(np.int64),
            "explained": explained.astype(np.int64),
            "unexplained": (~explained).astype(np.int64),
        }
    )
    table = parts.groupby("bucket", observed=False).sum().reindex(AGE_BUCKET_DTYPE.categories)
    return table.fillna(0).astype(np.int64)
