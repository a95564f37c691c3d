"""Drift triage: explained by an open exception or not, first seen, new / still open / resolved."""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest
from pandas.testing import assert_frame_equal  # type: ignore[import-untyped]

from core.drift import KINDS, classify
from core.drift.explain import EXPLAINS, EXPLANATIONS, reason_family
from core.drift.triage import AGE_BUCKETS, Triage, age_buckets, bucket_table, triage
from tests.unit.drift.builders import (
    NOW,
    ago,
    ams,
    exception,
    exceptions,
    ledger,
    ledger_row,
    previous,
    received,
    refunded,
    returnly,
    returnly_line,
    seen,
)


def _no_rma(rid: str = "1") -> pd.DataFrame:
    """Authorized three days ago, no RMA: ``authorized_no_rma``, healable by intake."""
    return classify(returnly(returnly_line(rid, created_at=ago(days=3))), ams(), ledger(), now=NOW)


def _triage(
    drift: pd.DataFrame, *excs: dict[str, object], before: pd.DataFrame | None = None
) -> Triage:
    return triage(
        drift,
        exceptions(*excs),
        previous() if before is None else before,
        now=NOW,
        previous_at=None if before is None else ago(days=1),
    )


@pytest.mark.parametrize(
    "reason",
    [
        pytest.param("mapping:missing_sku", id="missing-sku"),
        pytest.param("mapping:invalid_units,unknown_sku", id="unknown-sku-among-codes"),
        pytest.param("mapping:invalid_sku", id="invalid-sku"),
    ],
)
def test_triage_held_for_sku_is_not_told_to_rerun_intake(reason: str) -> None:
    drift = _no_rma()
    assert drift.loc[0, "suggested_action"] == "Re-run intake to create the AMS RMA."
    out = _triage(drift, exception(12, reason, "1")).drift
    row = out.iloc[0]
    assert "re-run intake" not in row["suggested_action"].lower()
    assert row["suggested_action"].startswith(f"Open review exception #12 ({reason}) explains it.")
    assert "SKU" in row["suggested_action"]
    assert (bool(row["explained"]), int(row["exception_id"]), row["exception_reason"]) == (
        True,
        12,
        reason,
    )
    assert not row["healable"]  # the healer would only hold it again


@pytest.mark.parametrize(
    ("reason", "explains"),
    [
        pytest.param("mapping:incomplete_address", True, id="other-mapping-hold"),
        pytest.param("ams_rejected", True, id="ams-rejected"),
        pytest.param("held:policy_review", False, id="refund-hold-is-another-stage"),
        pytest.param("undeliverable", False, id="undeliverable"),
        pytest.param("webhook_unknown_return", False, id="unknown-to-the-table"),
        pytest.param("mapping", False, id="no-codes"),
    ],
)
def test_triage_explains_only_the_kinds_a_reason_accounts_for(reason: str, explains: bool) -> None:
    row = _triage(_no_rma(), exception(3, reason, "1")).drift.iloc[0]
    assert bool(row["explained"]) is explains
    assert bool(row["healable"]) is not explains
    if not explains:
        assert row["suggested_action"] == "Re-run intake to create the AMS RMA."
        assert pd.isna(row["exception_id"]) and pd.isna(row["exception_reason"])


RAISED: tuple[str, ...] = (
    "mapping:missing_sku",
    "mapping:exchange_held",
    "mapping:no_line_items",
    "ams_rejected",
    "ams_duplicate_unreadable",
    "unknown_return_status",
    "refund:unknown_return_status",
    "cancel_after_shipped",
    "cancel_refused",
    "rma_without_return",
    "rma_missing_in_ams",
    "undeliverable",
    "unknown_ams_status",
    "held:policy_review",
    "not_on_original_rma",
    "refund:not_on_original_rma",
    "refund:unmatched_rma_line",
    "refund:rma_mismatch",
    "refund:over_receipt",
    "refund:return_canceled",
    "refund_unmatched",
    "refund_multiple",
    "refund_remaining_units",
    "webhook_unknown_return",
)
"""Reasons the stages raise (stages/intake, arrival, completion, inbox, lifecycle)."""


def test_every_explanation_matches_a_reason_the_stages_raise() -> None:
    family = reason_family(pd.Series(RAISED, dtype="str"))
    assert set(family.tolist()) == {-1, *range(len(EXPLANATIONS))}


def test_no_exception_ever_explains_money_out_without_goods() -> None:
    assert not EXPLAINS[:, KINDS.index("refunded_not_received")].any()
    drift = classify(returnly(refunded("2", refunded_at=ago(days=6))), ams(), ledger(), now=NOW)
    every = [exception(i + 1, reason, "2") for i, reason in enumerate(RAISED)]
    out = _triage(drift, *every).drift
    assert out["kind"].astype("str").tolist() == ["refunded_not_received"]
    assert not out["explained"].any()
    assert out.loc[0, "suggested_action"].startswith("Money out without goods")


def test_refund_held_for_review_explains_received_not_refunded() -> None:
    drift = classify(
        returnly(returnly_line("3", status="delivered")),
        ams(received("3", received_at=ago(days=4))),
        ledger(ledger_row("3", stage="held")),
        now=NOW,
    )
    row = _triage(drift, exception(5, "held:policy_review", "3")).drift.iloc[0]
    assert row["kind"] == "received_not_refunded" and bool(row["explained"])
    assert "re-run completion" not in row["suggested_action"].lower()
    assert "approve" in row["suggested_action"]


def test_triage_picks_the_oldest_fitting_exception_of_the_same_merchant_and_identity() -> None:
    drift = _no_rma("1")
    out = _triage(
        drift,
        exception(30, "mapping:missing_sku", "1"),
        exception(20, "held:policy_review", "1"),  # older, but does not fit the kind
        exception(10, "mapping:missing_sku", "1", merchant="other"),  # another merchant
        exception(9, "mapping:missing_sku", "2"),  # another return
        exception(25, "ams_rejected", "1"),  # fits and is older than 30
    ).drift
    assert int(out.loc[0, "exception_id"]) == 25
    assert out.loc[0, "exception_reason"] == "ams_rejected"


def test_reason_family_first_match_wins() -> None:
    reasons = pd.Series(
        ["mapping:missing_sku", "mapping:gift_held", "mapping:no_line_items", "x", None],
        dtype="str",
    )
    family = reason_family(reasons)
    assert [EXPLANATIONS[f].pattern if f >= 0 else None for f in family[:3]] == [
        EXPLANATIONS[0].pattern,
        EXPLANATIONS[1].pattern,
        EXPLANATIONS[2].pattern,
    ]
    assert family[3:].tolist() == [-1, -1]


def test_first_seen_is_carried_and_rows_are_new_still_open_or_resolved() -> None:
    drift = classify(
        returnly(
            returnly_line("1", created_at=ago(days=3)),
            returnly_line("3", status="delivered"),
        ),
        ams(received("3", received_at=ago(days=4))),
        ledger(ledger_row("3", stage="received")),
        now=NOW,
    )
    before = previous(
        seen("1", "authorized_no_rma", ago(days=2)),  # still open
        seen("9", "orphan_rma", ago(days=5), severity="high"),  # resolved
        seen("3", "sku_mismatch", ago(days=1)),  # same return, other kind: resolved
    )
    t = _triage(drift, before=before)
    got = t.drift[["customer_identifier", "kind", "triage", "first_seen"]].assign(
        kind=lambda f: f["kind"].astype("str"), triage=lambda f: f["triage"].astype("str")
    )
    expected = pd.DataFrame(
        {
            "customer_identifier": ["RLY-3", "RLY-1"],
            "kind": ["received_not_refunded", "authorized_no_rma"],
            "triage": ["new", "still_open"],
            "first_seen": [NOW, ago(days=2)],
        }
    ).astype({"customer_identifier": "str", "kind": "str", "triage": "str"})
    expected["first_seen"] = expected["first_seen"].astype("datetime64[ns, UTC]")
    assert_frame_equal(got.reset_index(drop=True), expected)
    assert sorted(zip(t.resolved["customer_identifier"], t.resolved["kind"], strict=True)) == [
        ("RLY-3", "sku_mismatch"),
        ("RLY-9", "orphan_rma"),
    ]
    assert t.counts.as_dict() == {
        "new": 1,
        "still_open": 1,
        "resolved": 2,
        "explained": 0,
        "unexplained": 2,
    }
    assert t.previous_at == ago(days=1)


def test_first_night_every_row_is_new_and_first_seen_is_tonight() -> None:
    t = _triage(_no_rma())
    assert t.previous_at is None and t.resolved.empty
    assert t.drift["triage"].astype("str").tolist() == ["new"]
    assert t.drift["first_seen"].tolist() == [NOW]


def test_triage_keeps_the_drift_rows_order_and_columns() -> None:
    drift = classify(
        returnly(*(returnly_line(str(i), created_at=ago(days=i + 1)) for i in range(1, 6))),
        ams(),
        ledger(),
        now=NOW,
    )
    out = _triage(drift, exception(1, "ams_rejected", "3")).drift
    assert_frame_equal(
        out[list(drift.columns)].drop(columns=["suggested_action", "healable"]),
        drift.drop(columns=["suggested_action", "healable"]),
    )
    assert out["explained"].tolist() == [c == "RLY-3" for c in drift["customer_identifier"]]


def test_triage_of_a_clean_night() -> None:
    clean = classify(returnly(), ams(), ledger(), now=NOW)
    t = _triage(
        clean,
        exception(1, "mapping:missing_sku"),
        before=previous(seen("1", "authorized_no_rma", ago(days=2))),
    )
    assert t.drift.empty and list(t.drift.columns)[-6:] == [
        "triage",
        "first_seen",
        "age_bucket",
        "explained",
        "exception_id",
        "exception_reason",
    ]
    assert t.counts.resolved == 1 and t.counts.new == 0


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        pytest.param(-0.5, "0-1", id="future-since"),
        pytest.param(0.0, "0-1", id="zero"),
        pytest.param(1.99, "0-1", id="just-under-two"),
        pytest.param(2.0, "2-3", id="two"),
        pytest.param(3.99, "2-3", id="just-under-four"),
        pytest.param(4.0, "4-7", id="four"),
        pytest.param(7.99, "4-7", id="just-under-eight"),
        pytest.param(8.0, "8-14", id="eight"),
        pytest.param(14.99, "8-14", id="just-under-fifteen"),
        pytest.param(15.0, "15-30", id="fifteen"),
        pytest.param(30.99, "15-30", id="just-under-thirty-one"),
        pytest.param(31.0, ">30", id="thirty-one"),
        pytest.param(400.0, ">30", id="long-ago"),
    ],
)
def test_age_buckets_edges(days: float, bucket: str) -> None:
    assert age_buckets(np.array([days]))[0] == bucket


def test_age_buckets_keep_unknown_ages_missing() -> None:
    out = age_buckets(np.array([np.nan, 5.0]))
    assert pd.isna(out[0]) and out[1] == "4-7"
    assert list(out.categories) == list(AGE_BUCKETS) and out.ordered


def test_bucket_table_counts_every_bucket() -> None:
    drift = classify(
        returnly(
            returnly_line("1", created_at=ago(days=3)),
            returnly_line("2", created_at=ago(days=3)),
            returnly_line("3", created_at=ago(days=40)),
        ),
        ams(),
        ledger(),
        now=NOW,
    )
    t = _triage(
        drift,
        exception(1, "mapping:missing_sku", "2"),
        before=previous(seen("3", "authorized_no_rma", ago(days=9))),
    )
    table = bucket_table(t.drift)
    assert list(table.index) == list(AGE_BUCKETS)
    assert table.loc["2-3"].tolist() == [2, 2, 1, 1]
    assert table.loc[">30"].tolist() == [1, 0, 0, 1]
    assert int(table["rows"].sum()) == 3
