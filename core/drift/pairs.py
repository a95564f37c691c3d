"""The three frames folded into one row per identity: what each side says about a return.

Column prefixes: ``r_`` Returnly, ``a_`` AMS, ``l_`` ledger, ``t_`` the merchant's thresholds,
``s_`` the SKU-level comparison. Absent sides have ``*_present`` False, zero sums, phase
``other`` and NaT timestamps. Strings (ids, statuses) stay in the input frames and are only
gathered for the rows that drift (:meth:`Pairs.text`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

from clients.ams.statuses import AMS_STATUS_PHASE
from core.drift.keys import IdentityKeys, first_rows, identity_keys, one_entity_per_key
from core.drift.skus import SkuFacts, sku_facts
from core.drift.statuses import (
    A_PHASES,
    R_PHASES,
    RETURNLY_STATUS_PHASE,
    phase_codes,
    phase_is,
)
from core.drift.thresholds import MerchantThresholds


@dataclass(frozen=True, slots=True)
class Pairs:
    """Per-identity facts (``frame``, RangeIndex = key) and the way back to the input rows."""

    frame: pd.DataFrame
    keys: IdentityKeys
    returnly: pd.DataFrame
    ams: pd.DataFrame
    ledger: pd.DataFrame
    r_row: np.ndarray
    """Per key: position of the Returnly header row, -1 when absent."""
    a_row: np.ndarray
    l_row: np.ndarray
    skus: SkuFacts

    def labels(self, idx: np.ndarray) -> pd.DataFrame:
        """Merchant, identity, Returnly return id and AMS id of the keys ``idx``."""
        return pd.DataFrame(
            {
                "merchant": self.keys.merchants.array.take(self.keys.merchant_code[idx]),
                "customer_identifier": self.keys.customer_identifiers.array.take(
                    self.keys.cid_code[idx]
                ),
                "return_id": self.text("returnly", "return_id", idx),
                "ams_id": self.text("ams", "ams_id", idx),
            }
        )

    def text(self, side: str, column: str, idx: np.ndarray) -> pd.Series:
        """A string column of one side's header row for the keys ``idx`` (NA when absent)."""
        frame, rows = {
            "returnly": (self.returnly, self.r_row),
            "ams": (self.ams, self.a_row),
            "ledger": (self.ledger, self.l_row),
        }[side]
        values = frame[column].array.take(rows[idx], allow_fill=True)
        return pd.Series(values, dtype="str")


def _gather(values: np.ndarray, rows: np.ndarray, fill: object) -> np.ndarray:
    out = values[np.maximum(rows, 0)] if len(values) else np.empty(len(rows), values.dtype)
    out[rows < 0] = fill
    return out


def _times(column: pd.Series, rows: np.ndarray) -> pd.Series:
    naive = column.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")
    return pd.Series(_gather(naive, rows, np.datetime64("NaT"))).dt.tz_localize("UTC")


def _sums(keys: np.ndarray, keep: np.ndarray, values: pd.Series | np.ndarray, n: int) -> np.ndarray:
    weights = np.asarray(values, dtype=np.float64)[keep]
    return np.bincount(keys[keep], weights=weights, minlength=n)


def _threshold_columns(keys: IdentityKeys, book: MerchantThresholds) -> dict[str, np.ndarray]:
    per_merchant = [book.for_merchant(str(m)) for m in keys.merchants]

    def column(values: list[object], dtype: str) -> np.ndarray:
        table = np.array(values, dtype=dtype) if values else np.empty(0, dtype=dtype)
        return table[keys.merchant_code] if len(table) else np.empty(keys.n, dtype=dtype)

    return {
        "t_authorized_no_rma_grace": column(
            [t.authorized_no_rma_grace for t in per_merchant], "timedelta64[ns]"
        ),
        "t_orphan_rma_grace": column([t.orphan_rma_grace for t in per_merchant], "timedelta64[ns]"),
        "t_received_not_refunded_grace": column(
            [t.received_not_refunded_grace for t in per_merchant], "timedelta64[ns]"
        ),
        "t_stuck_in_transit_after": column(
            [t.stuck_in_transit_after for t in per_merchant], "timedelta64[ns]"
        ),
        "t_amount_tolerance": column([t.amount_tolerance for t in per_merchant], "float64"),
        "t_damaged_refund_fraction": column(
            [t.damaged_refund_fraction for t in per_merchant], "float64"
        ),
    }


def build_pairs(
    returnly: pd.DataFrame, ams: pd.DataFrame, ledger: pd.DataFrame, book: MerchantThresholds
) -> Pairs:
    """Align the validated frames by identity and fold every side to one row per key."""
    keys = identity_keys(returnly, ams, ledger)
    n = keys.n
    rk, ak, lk = keys.line_keys
    r_keep = one_entity_per_key(
        rk, n, returnly["return_id"], np.zeros(len(returnly), bool), returnly["created_at"]
    )
    a_line_phase = phase_codes(ams["status"], AMS_STATUS_PHASE, A_PHASES)
    a_deleted = phase_is(a_line_phase, A_PHASES, "deleted")
    a_keep = one_entity_per_key(ak, n, ams["ams_id"], a_deleted, ams["created_at"])
    r_row, a_row = first_rows(rk, n, r_keep), first_rows(ak, n, a_keep)
    # The latest ledger row wins: look for the first row of the reversed frame.
    l_rev = first_rows(lk[::-1], n)
    l_row = np.where(l_rev >= 0, len(lk) - 1 - l_rev, -1)

    r_status = returnly["status"].iloc[r_row[r_row >= 0]]
    r_phase = np.full(n, R_PHASES.index("other"), dtype=np.int8)
    r_phase[r_row >= 0] = phase_codes(r_status, RETURNLY_STATUS_PHASE, R_PHASES)
    a_phase = np.full(n, A_PHASES.index("other"), dtype=np.int8)
    a_phase[a_row >= 0] = a_line_phase[a_row[a_row >= 0]]

    original = ~ams["not_on_original_rma"].to_numpy()
    thresholds = _threshold_columns(keys, book)
    frame = pd.DataFrame(
        {
            "r_present": r_row >= 0,
            "r_phase": r_phase,
            "r_created_at": _times(returnly["created_at"], r_row),
            "r_updated_at": _times(returnly["updated_at"], r_row),
            "r_refunded_at": _times(returnly["refunded_at"], r_row),
            "r_units_returned": _sums(rk, r_keep, returnly["units_returned"], n).astype(np.int64),
            "r_units_refunded": _sums(rk, r_keep, returnly["units_refunded"], n).astype(np.int64),
            "r_refund_amount": _sums(rk, r_keep, returnly["refund_amount"], n),
            "a_present": a_row >= 0,
            "a_phase": a_phase,
            "a_created_at": _times(ams["created_at"], a_row),
            "a_updated_at": _times(ams["updated_at"], a_row),
            "a_received_at": _times(ams["received_at"], a_row),
            "a_quantity": _sums(ak, a_keep & original, ams["quantity"], n).astype(np.int64),
            "a_received": _sums(ak, a_keep, ams["quantity_received"], n).astype(np.int64),
            "a_sellable": _sums(ak, a_keep, ams["units_sellable"], n).astype(np.int64),
            "a_non_sellable": _sums(ak, a_keep, ams["units_non_sellable"], n).astype(np.int64),
            "l_present": l_row >= 0,
            "l_refunded": _gather(ledger["refunded"].to_numpy(), l_row, False),
            "l_rma_created": _gather(ledger["rma_created"].to_numpy(), l_row, False),
            **thresholds,
        }
    )
    paired = (r_row >= 0) & (a_row >= 0)
    skus = sku_facts(
        returnly,
        rk,
        r_keep,
        ams,
        ak,
        a_keep,
        n,
        thresholds["t_damaged_refund_fraction"],
        paired,
    )
    for name in (
        "r_only",
        "a_only",
        "quantity_differs",
        "short_received",
        "over_received",
        "over_refunded_units",
        "under_refunded_units",
        "expected_refund",
    ):
        frame[f"s_{name}"] = getattr(skus, name)
    return Pairs(frame, keys, returnly, ams, ledger, r_row, a_row, l_row, skus)
