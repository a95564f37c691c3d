"""Benchmark of the drift classification: pandas (core.drift) vs DuckDB SQL vs a Python loop.

Synthetic data is generated straight into DataFrames (numpy, no I/O): N returns per side,
~1.5 lines per return, ~80% clean in five clean states and ~2% planted per drift kind.
Each timed variant runs in a fresh subprocess so its peak memory is its own; memory is the
peak resident set while classifying (Linux VmHWM, reset after the data is built), next to
the resident size of the input frames. The loop runs on a smaller sample and is extrapolated
linearly. Before timing, the three implementations must agree on the (identity, kind,
severity) rows of a smaller data set.

    .venv/bin/python bench/reconcile.py               # 1,000,000 per side, 3 runs
    .venv/bin/python bench/reconcile.py --returns 100000 --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]  # no stubs for pandas 3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clients.ams.statuses import AMS_STATUS_PHASE
from core.drift import DriftThresholds, classify
from core.drift.rules_compare import STATUS_CONFLICTS
from core.drift.statuses import A_ACTIVE, R_NEEDS_RMA, RETURNLY_STATUS_PHASE
from tests.support.drift_data import (
    NOW,
    SCENARIOS,
    generate,
    perturb,
)

# --- DuckDB: the same classification in SQL ---------------------------------------------------

DUCKDB_SQL = """
WITH
r_pick AS MATERIALIZED (
    SELECT merchant, customer_identifier,
           arg_min({'return_id': return_id, 'r_status': status, 'r_created_at': created_at,
                    'r_updated_at': updated_at, 'r_refunded_at': refunded_at},
                   {'c': -epoch_us(created_at), 'id': return_id}) AS h
    FROM r GROUP BY ALL),
a_pick AS MATERIALIZED (
    SELECT merchant, customer_identifier,
           arg_min({'ams_id': ams_id, 'a_status': status, 'a_created_at': created_at,
                    'a_updated_at': updated_at, 'a_received_at': received_at},
                   {'d': status = 'deleted', 'c': -epoch_us(created_at), 'id': ams_id}) AS h
    FROM a GROUP BY ALL),
lines AS (
    SELECT merchant, customer_identifier, sku, 1 AS r_line, units_returned, units_refunded,
           units_returned * unit_price AS value, refund_amount
    FROM r SEMI JOIN r_pick p ON r.merchant = p.merchant
        AND r.customer_identifier = p.customer_identifier AND r.return_id = p.h.return_id
    UNION ALL BY NAME
    SELECT merchant, customer_identifier, sku, 1 AS a_line,
           CASE WHEN not_on_original_rma THEN 0 ELSE 1 END AS a_orig_line,
           CASE WHEN not_on_original_rma THEN 0 ELSE quantity END AS quantity,
           quantity_received, units_sellable, units_non_sellable
    FROM a SEMI JOIN a_pick p ON a.merchant = p.merchant
        AND a.customer_identifier = p.customer_identifier AND a.ams_id = p.h.ams_id),
s AS (
    SELECT merchant, customer_identifier, sku,
           coalesce(sum(r_line), 0) AS r_lines, coalesce(sum(a_orig_line), 0) AS a_orig_lines,
           coalesce(sum(a_line), 0) AS a_lines,
           coalesce(sum(units_returned), 0) AS returned,
           coalesce(sum(units_refunded), 0) AS refunded,
           coalesce(sum(value), 0) AS value,
           coalesce(sum(refund_amount), 0) AS refund_amount,
           coalesce(sum(quantity), 0) AS quantity,
           coalesce(sum(quantity_received), 0) AS received,
           coalesce(sum(units_sellable), 0) AS sellable,
           coalesce(sum(units_non_sellable), 0) AS non_sellable
    FROM lines GROUP BY ALL),
s2 AS (
    SELECT s.*, th.frac, sku IS NOT NULL AS has_sku, least(sellable, returned) AS full_units,
           least(non_sellable, returned - least(sellable, returned)) AS partial_units,
           CASE WHEN returned > 0 THEN value / returned ELSE 0 END AS unit_price
    FROM s JOIN th USING (merchant)),
k AS (
    SELECT merchant, customer_identifier,
           sum(returned) AS r_units_returned,
           sum(refunded) AS r_units_refunded, sum(refund_amount) AS r_refund_amount,
           sum(quantity) AS a_quantity, sum(received) AS a_received, sum(sellable) AS a_sellable,
           count(*) FILTER (WHERE has_sku AND r_lines > 0 AND a_orig_lines = 0) AS r_only_n,
           count(*) FILTER (WHERE has_sku AND r_lines = 0 AND a_lines > 0) AS a_only_n,
           min(sku) FILTER (WHERE r_lines > 0 AND a_orig_lines = 0) AS r_only_sku,
           min(sku) FILTER (WHERE r_lines = 0 AND a_lines > 0) AS a_only_sku,
           count(*) FILTER (WHERE has_sku AND r_lines > 0 AND a_orig_lines > 0
                            AND returned <> quantity) AS s_quantity_differs,
           count(*) FILTER (WHERE has_sku AND a_orig_lines > 0 AND received < quantity)
               AS s_short,
           count(*) FILTER (WHERE has_sku AND a_orig_lines > 0 AND received > quantity)
               AS s_over_received,
           sum(CASE WHEN has_sku THEN greatest(refunded - least(received, returned), 0)
               ELSE 0 END) AS s_over_refunded,
           sum(CASE WHEN has_sku THEN greatest(full_units - refunded
               + CASE WHEN frac > 0 THEN partial_units ELSE 0 END, 0) ELSE 0 END)
               AS s_under_refunded,
    FROM s2 GROUP BY ALL),
rl AS (
    -- Received units fill a SKU's Returnly lines in Returnly order, sellable ones first.
    SELECT merchant, customer_identifier, sku, greatest(units_returned, 0) AS units, unit_price,
           coalesce(sum(greatest(units_returned, 0)) OVER (
               PARTITION BY merchant, customer_identifier, sku ORDER BY _row
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before
    FROM r SEMI JOIN r_pick p ON r.merchant = p.merchant
        AND r.customer_identifier = p.customer_identifier AND r.return_id = p.h.return_id
    WHERE sku IS NOT NULL),
e AS (
    SELECT merchant, customer_identifier,
           sum((least(greatest(sellable - before, 0), units)
                + frac * (least(greatest(sellable + non_sellable - before, 0), units)
                          - least(greatest(sellable - before, 0), units))) * rl.unit_price)
               AS s_expected_refund
    FROM rl JOIN s2 USING (merchant, customer_identifier, sku) GROUP BY ALL),
p0 AS (
    SELECT k.*, coalesce(e.s_expected_refund, 0) AS s_expected_refund,
        rp.h.return_id, rp.h.r_status, rp.h.r_created_at, rp.h.r_updated_at,
        rp.h.r_refunded_at, ap.h.ams_id, ap.h.a_status, ap.h.a_created_at, ap.h.a_updated_at,
        ap.h.a_received_at, l.stage, l.refunded, l.rma_created, th.* EXCLUDE (merchant),
        CASE WHEN rp.h IS NOT NULL AND ap.h IS NOT NULL THEN r_only_n ELSE 0 END AS s_r_only,
        CASE WHEN rp.h IS NOT NULL AND ap.h IS NOT NULL THEN a_only_n ELSE 0 END AS s_a_only
    FROM k
    LEFT JOIN e USING (merchant, customer_identifier)
    LEFT JOIN r_pick rp USING (merchant, customer_identifier)
    LEFT JOIN a_pick ap USING (merchant, customer_identifier)
    LEFT JOIN l USING (merchant, customer_identifier)
    JOIN th USING (merchant)),
p AS (
    SELECT *,
        return_id IS NOT NULL AS r_present, ams_id IS NOT NULL AS a_present,
        stage IS NOT NULL AS l_present,
        {r_phase} AS rp,
        {a_phase} AS ap,
        coalesce(r_refund_amount, 0) > 0 OR coalesce(r_units_refunded, 0) > 0
            OR r_status = 'refunded' AS money_out_raw,
        coalesce(a_received, 0) AS a_recv,
        epoch_us(TIMESTAMPTZ '{now}') AS now_us
    FROM p0),
q AS MATERIALIZED (
    SELECT *, coalesce(money_out_raw, false) AS money_out,
        a_present AND ap <> 'deleted' AS a_live,
        rp IN ({needs_rma}) AS needs_rma,
        greatest(epoch_us(r_updated_at), epoch_us(a_updated_at)) AS last_us,
        r_refund_amount - s_expected_refund AS amount_diff
    FROM p),
hits AS (
    SELECT merchant, customer_identifier, return_id, ams_id, 'refunded_not_received' AS kind,
        CASE WHEN r_refund_amount > 0 OR r_units_refunded > 0 THEN 3 ELSE 2 END AS severity,
        epoch_us(coalesce(r_refunded_at, r_updated_at)) AS since_us,
        'refunded ' || printf('%.2f', r_refund_amount) || ' for ' || r_units_refunded
            || ' unit(s); ' || CASE WHEN a_present THEN 'AMS ' || a_status ELSE 'no RMA in AMS'
            END || ', nothing received' AS detail, true AS ambiguous
    FROM q WHERE r_present AND money_out AND a_recv = 0
    UNION ALL
    SELECT merchant, customer_identifier, return_id, ams_id, 'authorized_no_rma',
        CASE WHEN rp IN ('in_transit', 'delivered', 'pending_refund') THEN 2 ELSE 1 END,
        epoch_us(r_created_at), 'Returnly ' || r_status || ', no RMA in AMS', false
    FROM q WHERE r_present AND NOT a_present AND needs_rma
        AND now_us - epoch_us(r_created_at) > auth_us
    UNION ALL
    SELECT merchant, customer_identifier, return_id, ams_id, 'received_not_refunded', 1,
        epoch_us(coalesce(a_received_at, a_updated_at)),
        'received ' || a_received || ' unit(s) (' || a_sellable || ' sellable), '
            || s_under_refunded || ' refundable; Returnly ' || r_status || ', no refund', false
    FROM q WHERE r_present AND ap = 'received' AND needs_rma AND NOT money_out
        AND s_under_refunded > 0
        AND now_us - epoch_us(coalesce(a_received_at, a_updated_at)) > recv_us
    UNION ALL
    SELECT merchant, customer_identifier, return_id, ams_id, 'orphan_rma',
        CASE WHEN a_recv > 0 THEN 2 ELSE 1 END, epoch_us(a_created_at),
        'AMS ' || a_status || ', no Returnly return; ' || a_recv || ' unit(s) received', false
    FROM q WHERE a_live AND NOT r_present AND now_us - epoch_us(a_created_at) > orphan_us
    UNION ALL
    SELECT merchant, customer_identifier, return_id, ams_id, 'quantity_mismatch',
        CASE WHEN over_refund THEN 2 WHEN under_refund OR differs THEN 1 ELSE 0 END, last_us,
        'returned ' || r_units_returned || ', RMA ' || a_quantity || ', received ' || a_recv
            || ', refunded ' || r_units_refunded || ': ' || concat_ws(', ',
            CASE WHEN over_refund THEN 'over-refund' END,
            CASE WHEN under_refund THEN 'under-refund' END,
            CASE WHEN differs THEN 'RMA quantity differs' END,
            CASE WHEN over_received THEN 'over-receipt' END,
            CASE WHEN short THEN 'short receipt' END),
        over_refund OR under_refund OR differs OR over_received
    FROM (SELECT *, s_over_refunded > 0 AND a_recv > 0 AS over_refund,
                 rp = 'refunded' AND s_under_refunded > 0 AS under_refund,
                 s_quantity_differs > 0 AS differs, s_over_received > 0 AS over_received,
                 ap = 'received' AND s_short > 0 AS short FROM q WHERE r_present AND a_live)
    WHERE over_refund OR under_refund OR differs OR over_received OR short
    UNION ALL
    SELECT merchant, customer_identifier, return_id, ams_id, 'refund_amount_mismatch',
        CASE WHEN amount_diff > 0 THEN 2 ELSE 1 END,
        epoch_us(coalesce(r_refunded_at, r_updated_at)),
        'refunded ' || printf('%.2f', r_refund_amount) || ', expected '
            || printf('%.2f', s_expected_refund) || ' (' || printf('%+.2f', amount_diff) || ')',
        true
    FROM q WHERE r_present AND a_present AND money_out AND a_recv > 0
        AND abs(amount_diff) > tol + 1e-6
    UNION ALL
    SELECT merchant, customer_identifier, return_id, ams_id, 'status_mismatch', sev, last_us,
        'Returnly ' || r_status || ', AMS ' || a_status, true
    FROM (SELECT *, {status_conflict} AS sev FROM q WHERE r_present AND a_present)
    WHERE sev IS NOT NULL
    UNION ALL
    SELECT merchant, customer_identifier, return_id, ams_id, 'sku_mismatch', 1, last_us,
        'only in Returnly: ' || s_r_only || coalesce(' (' || r_only_sku || ')', '')
            || '; only in AMS: ' || s_a_only || coalesce(' (' || a_only_sku || ')', ''), true
    FROM q WHERE r_present AND a_live AND (s_r_only > 0 OR s_a_only > 0)
    UNION ALL
    SELECT merchant, customer_identifier, return_id, ams_id, 'stuck_in_transit',
        CASE WHEN now_us - last_us > 2 * transit_us THEN 1 ELSE 0 END, last_us,
        'no progress in transit: Returnly ' || coalesce(r_status, 'none') || ', AMS '
            || coalesce(a_status, 'none'), false
    FROM q WHERE (rp = 'in_transit' OR ap = 'in_transit')
        AND rp NOT IN ('refunded', 'canceled')
        AND ap NOT IN ('arrived', 'receiving', 'received', 'deleted', 'undeliverable')
        AND now_us - last_us > transit_us
    UNION ALL
    SELECT merchant, customer_identifier, return_id, ams_id, 'ledger_disagrees',
        CASE WHEN says_refunded THEN 2 WHEN says_rma OR missed_refund THEN 1 ELSE 0 END,
        last_us, 'stage ' || coalesce(stage, 'none') || ': ' || concat_ws('; ',
            CASE WHEN says_refunded THEN 'ledger says refunded, Returnly shows no refund' END,
            CASE WHEN says_rma THEN 'ledger says RMA created, AMS has no live RMA' END,
            CASE WHEN missed_refund THEN 'refund missing from the ledger' END,
            CASE WHEN missed_rma THEN 'RMA missing from the ledger' END), true
    FROM (SELECT *, l_present AND r_present AND refunded AND NOT money_out AS says_refunded,
                 l_present AND r_present AND rma_created AND NOT a_live AS says_rma,
                 l_present AND r_present AND NOT refunded AND money_out AS missed_refund,
                 l_present AND r_present AND NOT rma_created AND a_live AS missed_rma
          FROM q WHERE l_present AND r_present)
    WHERE says_refunded OR says_rma OR missed_refund OR missed_rma)
SELECT h.merchant, h.customer_identifier, h.return_id, h.ams_id, h.kind,
    ['low', 'medium', 'high', 'critical'][h.severity + 1] AS severity,
    make_timestamptz(h.since_us) AS since,
    (epoch_us(TIMESTAMPTZ '{now}') - h.since_us) / 3.6e9 AS age_hours,
    (epoch_us(TIMESTAMPTZ '{now}') - h.since_us) / 8.64e10 AS age_days,
    h.detail, h.kind IN ('authorized_no_rma', 'received_not_refunded')
        AND NOT bool_or(h.ambiguous) OVER (PARTITION BY h.merchant, h.customer_identifier)
        AS healable
FROM hits h
ORDER BY h.severity DESC, age_hours DESC NULLS LAST, h.merchant, h.customer_identifier, h.kind
"""


def _sql_list(values: Any) -> str:
    return ", ".join(f"'{v}'" for v in sorted(values))


def _sql_case(column: str, mapping: dict[str, str]) -> str:
    whens = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in mapping.items())
    return f"CASE {column} {whens} ELSE 'other' END"


def _sql_vocabulary() -> dict[str, str]:
    """The SQL's status phases, RMA-needing phases and status conflicts, from core.drift."""
    conflicts = " ".join(
        f"WHEN rp = '{rp}' AND ap IN ({_sql_list(aps)}) THEN {severity}"
        for (rp, aps), severity in STATUS_CONFLICTS.items()
    )
    return {
        "r_phase": _sql_case("r_status", RETURNLY_STATUS_PHASE),
        "a_phase": _sql_case("a_status", AMS_STATUS_PHASE),
        "needs_rma": _sql_list(R_NEEDS_RMA),
        "status_conflict": f"CASE {conflicts} END",
    }


def duckdb_classify(
    returnly: pd.DataFrame, ams: pd.DataFrame, ledger: pd.DataFrame, threads: int | None = None
) -> pd.DataFrame:
    """The SQL twin of ``core.drift.classify`` (default thresholds, one set for all merchants)."""
    import duckdb

    t = DriftThresholds()
    micro = pd.Timedelta(microseconds=1)
    merchants = pd.concat([returnly["merchant"], ams["merchant"]]).unique()
    th = pd.DataFrame(
        {
            "merchant": pd.Series(merchants, dtype="str"),
            "auth_us": t.authorized_no_rma_grace // micro,
            "orphan_us": t.orphan_rma_grace // micro,
            "recv_us": t.received_not_refunded_grace // micro,
            "transit_us": t.stuck_in_transit_after // micro,
            "tol": t.amount_tolerance,
            "frac": t.damaged_refund_fraction,
        }
    )
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {threads}")
    rows = returnly.assign(_row=np.arange(len(returnly)))
    for name, frame in (("r", rows), ("a", ams), ("l", ledger), ("th", th)):
        con.register(name, frame)
    sql = DUCKDB_SQL
    for name, fragment in _sql_vocabulary().items():
        sql = sql.replace("{" + name + "}", fragment)
    sql = sql.replace("{now}", NOW.isoformat())
    return con.execute(sql).df()


# --- Row-by-row Python: the same rules, one identity at a time ---------------------------------

R_PHASE = RETURNLY_STATUS_PHASE
A_PHASE = AMS_STATUS_PHASE
NEEDS_RMA = R_NEEDS_RMA
ACTIVE_RMA = A_ACTIVE
SEVERITY_NAMES = ("low", "medium", "high", "critical")


def _nanos(column: pd.Series) -> list[int | None]:
    raw = column.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]").view(np.int64).tolist()
    nat = np.iinfo(np.int64).min
    return [None if v == nat else v for v in raw]


def _rows(frame: pd.DataFrame, columns: list[str], times: set[str]) -> Any:
    lists = [
        _nanos(frame[c])
        if c in times
        else frame[c].astype(object).where(frame[c].notna(), None).tolist()
        for c in columns
    ]
    return zip(*lists, strict=True)


def _money(value: float) -> str:
    return f"{round(value * 100) / 100:.2f}"


_CONFLICT: dict[tuple[str, str], int] = {
    (rp, ap): severity for (rp, aps), severity in STATUS_CONFLICTS.items() for ap in aps
}


def _status_conflict(rp: str, ap: str) -> int | None:
    return _CONFLICT.get((rp, ap))


def loop_classify(returnly: pd.DataFrame, ams: pd.DataFrame, ledger: pd.DataFrame) -> pd.DataFrame:
    """The drift rules applied identity by identity in plain Python (default thresholds)."""
    t = DriftThresholds()
    now = NOW.value
    hour = 3_600_000_000_000
    grace_auth = t.authorized_no_rma_grace // pd.Timedelta(1, "ns")
    grace_orphan = t.orphan_rma_grace // pd.Timedelta(1, "ns")
    grace_recv = t.received_not_refunded_grace // pd.Timedelta(1, "ns")
    transit = t.stuck_in_transit_after // pd.Timedelta(1, "ns")
    frac = t.damaged_refund_fraction

    r_ents: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    r_cols = [
        "merchant",
        "customer_identifier",
        "return_id",
        "status",
        "created_at",
        "updated_at",
        "refunded_at",
        "sku",
        "units_returned",
        "units_refunded",
        "unit_price",
        "refund_amount",
    ]
    for m, cid, rid, st, ca, ua, fa, sku, ur, uf, price, amt in _rows(
        returnly, r_cols, {"created_at", "updated_at", "refunded_at"}
    ):
        ent = r_ents[(m, cid)].get(rid)
        if ent is None:
            ent = r_ents[(m, cid)][rid] = {
                "id": rid,
                "status": st,
                "created": ca,
                "updated": ua,
                "refunded_at": fa,
                "lines": [],
            }
        ent["lines"].append((sku, ur, uf, price, amt))
    a_ents: dict[tuple[str, str], dict[str, dict[str, Any]]] = defaultdict(dict)
    a_cols = [
        "merchant",
        "customer_identifier",
        "ams_id",
        "status",
        "created_at",
        "updated_at",
        "received_at",
        "sku",
        "quantity",
        "quantity_received",
        "units_sellable",
        "units_non_sellable",
        "not_on_original_rma",
    ]
    for m, cid, aid, st, ca, ua, ra, sku, q, rec, sell, non, extra in _rows(
        ams, a_cols, {"created_at", "updated_at", "received_at"}
    ):
        ent = a_ents[(m, cid)].get(aid)
        if ent is None:
            ent = a_ents[(m, cid)][aid] = {
                "id": aid,
                "status": st,
                "created": ca,
                "updated": ua,
                "received_at": ra,
                "lines": [],
            }
        ent["lines"].append((sku, q, rec, sell, non, extra))
    led: dict[tuple[str, str], tuple[str, bool, bool]] = {}
    for m, cid, stage, refunded, rma in _rows(
        ledger, ["merchant", "customer_identifier", "stage", "refunded", "rma_created"], set()
    ):
        led[(m, cid)] = (stage, refunded, rma)

    def pick(ents: dict[str, dict[str, Any]]) -> dict[str, Any]:
        def rank(e: dict[str, Any]) -> tuple[bool, float, str]:
            created = -e["created"] if e["created"] is not None else float("inf")
            return (e["status"] == "deleted", created, e["id"])

        return min(ents.values(), key=rank)

    out: list[tuple[Any, ...]] = []
    for key in dict.fromkeys([*r_ents, *a_ents]):
        r = pick(r_ents[key]) if key in r_ents else None
        a = pick(a_ents[key]) if key in a_ents else None
        rp = R_PHASE.get(r["status"], "other") if r else "other"
        ap = A_PHASE.get(a["status"], "other") if a else "other"
        returned_u = sum(x[1] for x in r["lines"]) if r else 0
        refunded_u = sum(x[2] for x in r["lines"]) if r else 0
        amount = sum(x[4] for x in r["lines"]) if r else 0.0
        quantity = sum(x[1] for x in a["lines"] if not x[5]) if a else 0
        received = sum(x[2] for x in a["lines"]) if a else 0
        sellable_u = sum(x[3] for x in a["lines"]) if a else 0
        skus: dict[str, list[Any]] = defaultdict(lambda: [0, 0, 0, 0.0, 0, 0, 0, 0, 0, 0])
        priced: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for sku, ur, uf, price, _amt in r["lines"] if r else ():
            if sku is not None:
                s = skus[sku]
                s[0] += 1
                s[1] += ur
                s[2] += uf
                s[3] += ur * price
                priced[sku].append((ur, price))
        for sku, q, rec, sell, non, extra in a["lines"] if a else ():
            if sku is not None:
                s = skus[sku]
                s[4] += 0 if extra else 1
                s[5] += 1
                s[6] += 0 if extra else q
                s[7] += rec
                s[8] += sell
                s[9] += non
        paired = r is not None and a is not None
        r_only = a_only = differs = short_n = over_recv = over_units = under_units = 0
        expected = 0.0
        r_only_skus: list[str] = []
        a_only_skus: list[str] = []
        for sku, (rl, ret, ref, _value, orig, al, qty, rec, sell, non) in skus.items():
            if paired and rl > 0 and orig == 0:
                r_only += 1
                r_only_skus.append(sku)
            if paired and rl == 0 and al > 0:
                a_only += 1
                a_only_skus.append(sku)
            if rl > 0 and orig > 0 and ret != qty:
                differs += 1
            if orig > 0 and rec < qty:
                short_n += 1
            if orig > 0 and rec > qty:
                over_recv += 1
            full = min(sell, ret)
            partial = min(non, ret - full)
            over_units += max(ref - min(rec, ret), 0)
            under_units += max(full + (partial if frac > 0 else 0) - ref, 0)
            # Received units fill the SKU's lines in Returnly order, sellable ones first.
            before = 0
            for units, price in priced[sku]:
                units = max(units, 0)
                line_full = min(max(sell - before, 0), units)
                line_partial = min(max(sell + non - before, 0), units) - line_full
                expected += (line_full + frac * line_partial) * price
                before += units
        money_out = r is not None and (amount > 0 or refunded_u > 0 or rp == "refunded")
        live = a is not None and ap != "deleted"
        r_upd = r["updated"] if r else None
        a_upd = a["updated"] if a else None
        last = max((v for v in (r_upd, a_upd) if v is not None), default=None)
        m, cid = key
        rid = r["id"] if r else None
        aid = a["id"] if a else None
        rs = r["status"] if r else None
        as_ = a["status"] if a else None
        hits: list[tuple[str, int, int | None, str, bool]] = []

        def older(since: int | None, limit: int) -> bool:
            return since is not None and now - since > limit

        if r and money_out and received == 0:
            paid = amount > 0 or refunded_u > 0
            where = f"AMS {as_}" if a else "no RMA in AMS"
            since = r["refunded_at"] if r["refunded_at"] is not None else r["updated"]
            hits.append(
                (
                    "refunded_not_received",
                    3 if paid else 2,
                    since,
                    f"refunded {_money(amount)} for {refunded_u} unit(s); {where}, "
                    "nothing received",
                    True,
                )
            )
        if r and not a and rp in NEEDS_RMA and older(r["created"], grace_auth):
            sev = 2 if rp in ("in_transit", "delivered", "pending_refund") else 1
            hits.append(
                ("authorized_no_rma", sev, r["created"], f"Returnly {rs}, no RMA in AMS", False)
            )
        if a:
            got_at = a["received_at"] if a["received_at"] is not None else a["updated"]
        if (
            r
            and a
            and ap == "received"
            and rp in NEEDS_RMA
            and not money_out
            and under_units > 0
            and older(got_at, grace_recv)
        ):
            hits.append(
                (
                    "received_not_refunded",
                    1,
                    got_at,
                    f"received {received} unit(s) ({sellable_u} sellable), {under_units} "
                    f"refundable; Returnly {rs}, no refund",
                    False,
                )
            )
        if a is not None and live and not r and older(a["created"], grace_orphan):
            hits.append(
                (
                    "orphan_rma",
                    2 if received > 0 else 1,
                    a["created"],
                    f"AMS {as_}, no Returnly return; {received} unit(s) received",
                    False,
                )
            )
        if r and live:
            flags = [
                ("over-refund", over_units > 0 and received > 0),
                ("under-refund", rp == "refunded" and under_units > 0),
                ("RMA quantity differs", differs > 0),
                ("over-receipt", over_recv > 0),
                ("short receipt", ap == "received" and short_n > 0),
            ]
            if any(f for _, f in flags):
                sev = 2 if flags[0][1] else 1 if flags[1][1] or flags[2][1] else 0
                labels = ", ".join(name for name, f in flags if f)
                hits.append(
                    (
                        "quantity_mismatch",
                        sev,
                        last,
                        f"returned {returned_u}, RMA {quantity}, received {received}, "
                        f"refunded {refunded_u}: {labels}",
                        any(f for _, f in flags[:4]),
                    )
                )
        diff = amount - expected
        if r and a and money_out and received > 0 and abs(diff) > t.amount_tolerance + 1e-6:
            since = r["refunded_at"] if r["refunded_at"] is not None else r["updated"]
            sign = "+" if round(diff * 100) > 0 else ""
            hits.append(
                (
                    "refund_amount_mismatch",
                    2 if diff > 0 else 1,
                    since,
                    f"refunded {_money(amount)}, expected {_money(expected)} "
                    f"({sign}{_money(diff)})",
                    True,
                )
            )
        conflict = _status_conflict(rp, ap) if r and a else None
        if conflict is not None:
            hits.append(("status_mismatch", conflict, last, f"Returnly {rs}, AMS {as_}", True))
        if r and live and (r_only or a_only):
            r_eg = f" ({min(r_only_skus)})" if r_only_skus else ""
            a_eg = f" ({min(a_only_skus)})" if a_only_skus else ""
            hits.append(
                (
                    "sku_mismatch",
                    1,
                    last,
                    f"only in Returnly: {r_only}{r_eg}; only in AMS: {a_only}{a_eg}",
                    True,
                )
            )
        if (
            (rp == "in_transit" or ap == "in_transit")
            and rp not in ("refunded", "canceled")
            and ap not in ("arrived", "receiving", "received", "deleted", "undeliverable")
            and older(last, transit)
        ):
            hits.append(
                (
                    "stuck_in_transit",
                    1 if older(last, 2 * transit) else 0,
                    last,
                    f"no progress in transit: Returnly {rs or 'none'}, AMS {as_ or 'none'}",
                    False,
                )
            )
        if key in led and r:
            stage, l_ref, l_rma = led[key]
            says = [
                ("ledger says refunded, Returnly shows no refund", l_ref and not money_out),
                ("ledger says RMA created, AMS has no live RMA", l_rma and not live),
                ("refund missing from the ledger", not l_ref and money_out),
                ("RMA missing from the ledger", not l_rma and live),
            ]
            if any(f for _, f in says):
                sev = 2 if says[0][1] else 1 if says[1][1] or says[2][1] else 0
                labels = "; ".join(name for name, f in says if f)
                hits.append(("ledger_disagrees", sev, last, f"stage {stage}: {labels}", True))
        blocked = any(h[4] for h in hits)
        for kind, sev, since, detail, _amb in hits:
            age = (now - since) / hour if since is not None else np.nan
            healable = kind in ("authorized_no_rma", "received_not_refunded") and not blocked
            out.append((m, cid, rid, aid, kind, SEVERITY_NAMES[sev], age, detail, healable))
    return pd.DataFrame(
        out,
        columns=[
            "merchant",
            "customer_identifier",
            "return_id",
            "ams_id",
            "kind",
            "severity",
            "age_hours",
            "detail",
            "healable",
        ],
    )


# --- Harness ---------------------------------------------------------------------------------

VARIANTS = {
    "pandas": lambda r, a, led: classify(r, a, led, now=NOW),
    "duckdb": duckdb_classify,
    "loop": loop_classify,
}
GIB = 1024**3


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux clear_refs 5), so the peak is the variant's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def run_variant(name: str, n: int, runs: int) -> dict[str, Any]:
    """Child process: build the data, time ``runs`` classifications, report JSON."""
    returnly, ams, ledger, scenario = generate(n)
    input_kib = _status_kib("VmRSS") or 0
    reset = _reset_peak()
    times, cpu, counts = [], [], {}
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        drift = VARIANTS[name](returnly, ams, ledger)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        counts = drift["kind"].astype("str").value_counts().to_dict()
        del drift
    peak_kib = (_status_kib("VmHWM") if reset else None) or resource.getrusage(
        resource.RUSAGE_SELF
    ).ru_maxrss
    planted = pd.Series(np.array([s[0] for s in SCENARIOS])[scenario]).value_counts().to_dict()
    return {
        "variant": name,
        "returns": n,
        "lines": [len(returnly), len(ams)],
        "times": times,
        "median_s": statistics.median(times),
        "cpu_s": statistics.median(cpu),
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "input_mib": input_kib / 1024,
        "peak_mib": peak_kib / 1024,
        "peak_is_run_only": reset,
        "counts": counts,
        "planted": planted,
    }


def spawn(name: str, n: int, runs: int) -> dict[str, Any]:
    """Run one variant in a fresh interpreter (its own peak memory)."""
    cmd = [sys.executable, __file__, "--variant", name, "--returns", str(n), "--runs", str(runs)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy())
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def check_agreement(n: int) -> int:
    """pandas, DuckDB and the loop must find the same (identity, kind, severity) rows."""
    total = 0
    for label, frames in (
        ("planted", generate(n)[:3]),
        ("scrambled", perturb(*generate(n, seed=3)[:3])),
    ):
        found = {}
        for name, fn in VARIANTS.items():
            drift = fn(*frames)
            found[name] = set(
                zip(
                    drift["merchant"],
                    drift["customer_identifier"],
                    drift["kind"].astype("str"),
                    drift["severity"].astype("str"),
                    strict=True,
                )
            )
        assert found["pandas"] == found["duckdb"], f"{label}: pandas and DuckDB disagree"
        assert found["pandas"] == found["loop"], f"{label}: pandas and the loop disagree"
        print(f"  {label:9s} {n:>9,} returns: {len(found['pandas']):>7,} drift rows, identical")
        total += len(found["pandas"])
    return total


def main() -> None:
    """Agreement check, then each variant in its own process, then figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--returns", type=int, default=1_000_000, help="returns per side")
    parser.add_argument("--runs", type=int, default=3, help="timed runs (median reported)")
    parser.add_argument("--loop-sample", type=int, default=50_000, help="returns for the loop")
    parser.add_argument("--check-size", type=int, default=20_000, help="returns for agreement")
    parser.add_argument("--variant", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.returns, args.runs)))
        return

    import duckdb

    n = args.returns
    print(f"drift classification bench: {n:,} returns per side, median of {args.runs} run(s)")
    print(
        f"python {sys.version.split()[0]}, pandas {pd.__version__}, numpy {np.__version__}, "
        f"duckdb {duckdb.__version__} ({os.cpu_count()} CPUs, DuckDB uses all of them)"
    )
    print("agreement (merchant, identity, kind, severity):")
    check_agreement(args.check_size)

    pandas_r = spawn("pandas", n, args.runs)
    duck_r = spawn("duckdb", n, args.runs)
    sample = min(args.loop_sample, n)
    loop_r = spawn("loop", sample, 1)
    loop_est = loop_r["median_s"] * n / sample
    lines = pandas_r["lines"]
    print(
        f"data: {lines[0]:,} Returnly lines, {lines[1]:,} AMS lines; "
        f"input frames resident: {pandas_r['input_mib']:,.0f} MiB"
    )
    peak_note = "peak RSS while classifying (input frames included)"
    if not pandas_r["peak_is_run_only"]:
        peak_note = "peak RSS of the process (ru_maxrss: data generation included)"
    print(f"{'variant':27s} {'wall (s)':>9s} {'cpu (s)':>8s} {'peak MiB':>9s}   wall of each run")
    for label, res in (("pandas (core.drift)", pandas_r), ("duckdb (SQL)", duck_r)):
        runs = ", ".join(f"{t:.2f}" for t in res["times"])
        print(
            f"{label:27s} {res['median_s']:9.2f} {res['cpu_s']:8.2f} "
            f"{res['peak_mib']:9,.0f}   [{runs}]"
        )
    print(
        f"{'python loop (extrapolated)':27s} {loop_est:9.2f} {loop_r['cpu_s'] * n / sample:8.2f} "
        f"{'-':>9s}   [{loop_r['median_s']:.2f} s for {sample:,} returns, x {n / sample:g}]"
    )
    print(
        f"memory: {peak_note}; whole-process ru_maxrss (data generation included): "
        f"pandas {pandas_r['maxrss_mib']:,.0f} MiB, duckdb {duck_r['maxrss_mib']:,.0f} MiB"
    )
    print(
        "cpu = process CPU time summed over threads (other load on the machine shows as wall > cpu)"
    )
    ratio_duck = pandas_r["median_s"] / duck_r["median_s"]
    ratio_loop = loop_est / pandas_r["median_s"]
    print(f"ratios: pandas/duckdb = {ratio_duck:.2f}x, loop/pandas = {ratio_loop:.1f}x")
    print("found vs planted (pandas):")
    for name, planted in sorted(pandas_r["planted"].items()):
        if name.startswith("clean_"):
            continue
        print(f"  {name:24s} planted {planted:>7,}  found {pandas_r['counts'].get(name, 0):>7,}")
    checks = {
        "time <= 15 s": pandas_r["median_s"] <= 15,
        "peak <= 4 GiB": pandas_r["peak_mib"] * 1024**2 <= 4 * GIB,
        "within 2x of DuckDB": ratio_duck <= 2,
    }
    print("targets: " + ", ".join(f"{k}: {'ok' if v else 'MISSED'}" for k, v in checks.items()))


if __name__ == "__main__":
    main()
