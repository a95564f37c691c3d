"""Synthetic drift data for the reconciliation's tests and its benchmark (``bench/reconcile.py``).

N returns per side are generated straight into DataFrames (numpy, no I/O): ~1.5 lines per
return, ~80% clean in five clean states and ~2% planted per drift kind (``SCENARIOS``);
:func:`perturb` scrambles a share of every column so rules meet every combination.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3
import pyarrow as pa
import pyarrow.compute as pc

from clients.ams.statuses import RMA_STATUSES

NOW = pd.Timestamp("2026-11-20T02:00:00Z")
MERCHANT = "acme"
N_SKUS = 180
PRICES = np.array([10.0, 20.0, 35.5, 49.99])
R_STATUSES = ["authorized", "in_transit", "delivered", "refunded", "canceled_by_merchant"]
R_PHASE_NAMES = R_STATUSES
A_STATUSES = ["open", "inTransit", "received", "deleted"]
NAN = np.nan

# name, probability, Returnly (status, created, updated, refunded_at hours ago, refunded?,
# amount delta), AMS (status, created, updated, received_at hours ago, received?, qty delta,
# swap first sku), ledger (present, stage, refunded, rma_created). None = side absent.
SCENARIOS: list[tuple[Any, ...]]
SCENARIOS = [
    ("clean_open", 0.24, ("authorized", 1, 1, NAN, False, 0.0),
     ("open", 0.5, 0.5, NAN, False, 0, False), (True, "rma_created", False, True)),
    ("clean_done", 0.32, ("refunded", 240, 100, 100, True, 0.0),
     ("received", 239, 101, 101, True, 0, False), (True, "refunded", True, True)),
    ("clean_transit", 0.10, ("in_transit", 96, 48, NAN, False, 0.0),
     ("inTransit", 95, 48, NAN, False, 0, False), (True, "in_transit", False, True)),
    ("clean_canceled", 0.06, ("canceled_by_merchant", 200, 150, NAN, False, 0.0),
     ("deleted", 199, 150, NAN, False, 0, False), (True, "canceled", False, False)),
    ("clean_waiting", 0.08, ("delivered", 120, 12, NAN, False, 0.0),
     ("received", 119, 10, 10, True, 0, False), (True, "received", False, True)),
    ("authorized_no_rma", 0.02, ("authorized", 48, 48, NAN, False, 0.0),
     None, (True, "authorized", False, False)),
    ("orphan_rma", 0.02, None,
     ("open", 72, 72, NAN, False, 0, False), (False, "", False, False)),
    ("received_not_refunded", 0.02, ("delivered", 300, 120, NAN, False, 0.0),
     ("received", 299, 120, 120, True, 0, False), (True, "received", False, True)),
    ("refunded_not_received", 0.02, ("refunded", 200, 72, 72, True, 0.0),
     ("open", 199, 190, NAN, False, 0, False), (True, "refunded", True, True)),
    ("quantity_mismatch", 0.02, ("refunded", 240, 100, 100, True, 0.0),
     ("received", 239, 101, 101, True, 1, False), (True, "refunded", True, True)),
    ("refund_amount_mismatch", 0.02, ("refunded", 240, 100, 100, True, 5.0),
     ("received", 239, 101, 101, True, 0, False), (True, "refunded", True, True)),
    ("status_mismatch", 0.02, ("canceled_by_merchant", 100, 50, NAN, False, 0.0),
     ("open", 99, 99, NAN, False, 0, False), (True, "rma_created", False, True)),
    ("sku_mismatch", 0.02, ("authorized", 1, 1, NAN, False, 0.0),
     ("open", 0.5, 0.5, NAN, False, 0, True), (True, "rma_created", False, True)),
    ("stuck_in_transit", 0.02, ("in_transit", 600, 500, NAN, False, 0.0),
     ("inTransit", 599, 500, NAN, False, 0, False), (True, "in_transit", False, True)),
    ("ledger_disagrees", 0.02, ("refunded", 240, 100, 100, True, 0.0),
     ("received", 239, 101, 101, True, 0, False), (True, "refunded", False, True)),
]  # fmt: skip
SCENARIOS_KINDS = [s[0] for s in SCENARIOS if not s[0].startswith("clean_")]


def _strings(values: list[str], codes: np.ndarray) -> pd.Series:
    """A ``str`` column from a small vocabulary and codes (built in Arrow, no Python objects)."""
    return pd.Series(pa.array(values).take(pa.array(codes)), dtype="str")


def _prefixed(prefix: str, numbers: np.ndarray) -> pd.Series:
    text = pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")
    return pd.Series(text, dtype="str")


def _stamps(hours_ago: np.ndarray) -> pd.Series:
    """``NOW - hours`` as datetime64[ns, UTC]; NaN hours give NaT."""
    nanos = np.where(np.isnan(hours_ago), 0, hours_ago * 3.6e12).astype(np.int64)
    values = (np.int64(NOW.value) - nanos).view("datetime64[ns]").copy()
    values[np.isnan(hours_ago)] = np.datetime64("NaT")
    return pd.Series(values).dt.tz_localize("UTC")


def _column(index: int, side: int, default: Any) -> np.ndarray:
    """One template field per scenario (``default`` where the side is absent)."""
    return np.array([s[side][index] if s[side] is not None else default for s in SCENARIOS])


def generate(n: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Returnly lines, AMS lines, ledger, and the scenario index of every identity."""
    rng = np.random.default_rng(seed)
    probs = np.array([s[1] for s in SCENARIOS])
    scenario = rng.choice(len(SCENARIOS), size=n, p=probs / probs.sum())
    jitter = rng.random(n) * 0.4
    n_lines = 1 + (rng.random(n) < 0.5).astype(np.int64)
    ret = np.repeat(np.arange(n), n_lines)
    first = np.r_[True, ret[1:] != ret[:-1]]
    line_no = np.where(first, 0, 1)
    units = np.where(rng.random(len(ret)) < 0.8, 1, 2).astype(np.int64)
    base = rng.integers(0, N_SKUS, n)
    sku_code = (base[ret] + line_no * 37) % N_SKUS
    price = PRICES[rng.integers(0, len(PRICES), len(ret))]
    sc = scenario[ret]
    skus = [f"SKU-{i:04d}" for i in range(N_SKUS)]
    rid = 100_000 + np.arange(n)
    orphan_wh = (scenario == [s[0] for s in SCENARIOS].index("orphan_rma")) & (rid % 2 == 0)
    cid_num = _prefixed("RLY-", rid)
    cid = cid_num.where(~orphan_wh, _prefixed("WH-", rid))

    r_has = np.array([s[2] is not None for s in SCENARIOS])
    r_lines = r_has[sc]
    rl = np.flatnonzero(r_lines)
    rr = ret[rl]
    rs = sc[rl]
    r_refunded = _column(4, 2, False).astype(bool)[rs]
    value = units[rl] * price[rl]
    returnly = pd.DataFrame(
        {
            "merchant": _strings([MERCHANT], np.zeros(len(rl), np.int64)),
            "customer_identifier": cid.iloc[rr].reset_index(drop=True),
            "return_id": _prefixed("", rid[rr]),
            "rma": _prefixed("R", rid[rr]),
            "status": _strings(
                R_STATUSES,
                np.array([R_STATUSES.index(v) if v else 0 for v in _column(0, 2, "")])[rs],
            ),
            "created_at": _stamps(_column(1, 2, 0.0).astype(float)[rs] + jitter[rr]),
            "updated_at": _stamps(_column(2, 2, 0.0).astype(float)[rs] + jitter[rr]),
            "refunded_at": _stamps(_column(3, 2, NAN).astype(float)[rs] + jitter[rr]),
            "sku": _strings(skus, sku_code[rl]),
            "units_returned": units[rl],
            "units_refunded": np.where(r_refunded, units[rl], 0).astype(np.int64),
            "unit_price": price[rl],
            "refund_amount": np.where(r_refunded, value, 0.0)
            + np.where(first[rl], _column(5, 2, 0.0).astype(float)[rs], 0.0),
        }
    )

    a_has = np.array([s[3] is not None for s in SCENARIOS])
    al = np.flatnonzero(a_has[sc])
    ar = ret[al]
    ascn = sc[al]
    a_received = _column(4, 3, False).astype(bool)[ascn]
    swap = _column(6, 3, False).astype(bool)[ascn] & first[al]
    got = np.where(a_received, units[al], 0).astype(np.int64)
    ams = pd.DataFrame(
        {
            "merchant": _strings([MERCHANT], np.zeros(len(al), np.int64)),
            "customer_identifier": cid.iloc[ar].reset_index(drop=True),
            "ams_id": _prefixed("ams-", rid[ar]),
            "status": _strings(
                A_STATUSES,
                np.array([A_STATUSES.index(v) if v else 0 for v in _column(0, 3, "")])[ascn],
            ),
            "created_at": _stamps(_column(1, 3, 0.0).astype(float)[ascn] + jitter[ar]),
            "updated_at": _stamps(_column(2, 3, 0.0).astype(float)[ascn] + jitter[ar]),
            "received_at": _stamps(_column(3, 3, NAN).astype(float)[ascn] + jitter[ar]),
            "sku": _strings(skus, np.where(swap, (sku_code[al] + 90) % N_SKUS, sku_code[al])),
            "quantity": units[al] + np.where(first[al], _column(5, 3, 0).astype(np.int64)[ascn], 0),
            "quantity_received": got,
            "units_sellable": got,
            "units_non_sellable": np.zeros(len(al), np.int64),
            "not_on_original_rma": np.zeros(len(al), bool),
        }
    )

    l_has = np.array([s[4][0] for s in SCENARIOS])[scenario]
    li = np.flatnonzero(l_has)
    stages = sorted({s[4][1] for s in SCENARIOS})
    ledger = pd.DataFrame(
        {
            "merchant": _strings([MERCHANT], np.zeros(len(li), np.int64)),
            "customer_identifier": cid.iloc[li].reset_index(drop=True),
            "stage": _strings(
                stages, np.array([stages.index(s[4][1]) for s in SCENARIOS])[scenario[li]]
            ),
            "refunded": np.array([s[4][2] for s in SCENARIOS])[scenario[li]],
            "rma_created": np.array([s[4][3] for s in SCENARIOS])[scenario[li]],
        }
    )
    return returnly, ams, ledger, scenario


def perturb(
    returnly: pd.DataFrame, ams: pd.DataFrame, ledger: pd.DataFrame, seed: int = 11
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Scramble a share of every column (agreement check only): every status, partial and
    damaged receipts, unexpected lines, missing SKUs, re-created RMAs, a second merchant."""
    rng = np.random.default_rng(seed)
    r, a, led = returnly.copy(), ams.copy(), ledger.copy()

    def some(frame: pd.DataFrame, share: float = 0.15) -> np.ndarray:
        return rng.random(len(frame)) < share

    def pick(values: list[str], size: int) -> pd.Series:
        return _strings(values, rng.integers(0, len(values), size))

    def stamps(size: int, missing: float = 0.0) -> pd.Series:
        hours = rng.random(size) * 800
        return _stamps(np.where(rng.random(size) < missing, np.nan, hours))

    r_all = [*R_PHASE_NAMES, "requested", "pending_refund", "incomplete", "cancelled", "on_hold"]
    a_all = [*sorted(RMA_STATUSES), "lost"]  # every known AMS status and an unknown one
    # Header columns change per return / RMA (every line of one entity keeps the same header).
    r_codes = pd.factorize(r["return_id"])[0]
    a_codes = pd.factorize(a["ams_id"])[0]

    def per_entity(
        codes: np.ndarray, values: pd.Series, share: float = 0.15
    ) -> tuple[np.ndarray, np.ndarray]:
        n_ent = int(codes.max()) + 1 if len(codes) else 0
        hit = (rng.random(n_ent) < share)[codes]
        return np.flatnonzero(hit), values.to_numpy()[:n_ent][codes][hit]

    for column, fresh in (
        ("status", pick(r_all, len(r))),
        ("updated_at", stamps(len(r))),
        ("refunded_at", stamps(len(r), missing=0.3)),
    ):
        rows, values = per_entity(r_codes, fresh)
        r.iloc[rows, r.columns.get_loc(column)] = values
    m = some(r)
    r.loc[m, "units_refunded"] = rng.integers(0, 3, int(m.sum()))
    m = some(r)
    r.loc[m, "refund_amount"] = np.round(rng.random(int(m.sum())) * 80, 2)
    m = some(r, 0.03)
    r.loc[m, "sku"] = np.nan

    for column, fresh in (
        ("status", pick(a_all, len(a))),
        ("updated_at", stamps(len(a))),
        ("received_at", stamps(len(a), missing=0.3)),
    ):
        rows, values = per_entity(a_codes, fresh)
        a.iloc[rows, a.columns.get_loc(column)] = values
    m = some(a)
    got = rng.integers(0, 4, int(m.sum()))
    good = np.minimum(rng.integers(0, 4, int(m.sum())), got)
    a.loc[m, "quantity_received"] = got
    a.loc[m, "units_sellable"] = good
    a.loc[m, "units_non_sellable"] = got - good
    m = some(a, 0.05)
    a.loc[m, "not_on_original_rma"] = True
    a.loc[m, "quantity"] = 0
    a.loc[m, "sku"] = pick([f"SKU-{i:04d}" for i in range(N_SKUS)], int(m.sum())).to_numpy()
    # Re-created RMAs: an older deleted copy of some RMAs under another id.
    m = some(a, 0.03)
    old = a[m].copy()
    old["ams_id"] = ("old-" + old["ams_id"]).astype("str")
    old["status"] = "deleted"
    old["created_at"] = old["created_at"] - pd.Timedelta(days=30)
    a = pd.concat([a, old], ignore_index=True)

    for column in ("refunded", "rma_created"):
        m = some(led)
        led.loc[m, column] = ~led.loc[m, column]
    # A second merchant for some identities, on every side alike.
    cids = pd.Index(pd.concat([r["customer_identifier"], a["customer_identifier"]]).unique())
    moved = pd.Index(cids[rng.random(len(cids)) < 0.2])
    for frame in (r, a, led):
        frame.loc[frame["customer_identifier"].isin(moved), "merchant"] = "globex"
    return r, a, led
