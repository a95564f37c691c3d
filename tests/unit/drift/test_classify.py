"""Whole-classification behaviour: clean data, identity, ordering, details, ages."""

from __future__ import annotations

import pandas as pd  # type: ignore[import-untyped]
from pandas.testing import assert_frame_equal  # type: ignore[import-untyped]

from core.drift import classify
from tests.unit.drift.builders import (
    NOW,
    ago,
    ams,
    ams_line,
    ledger,
    ledger_row,
    received,
    refunded,
    returnly,
    returnly_line,
)
from tests.unit.drift.expect import assert_drift, found


def _clean() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every healthy state at once: nothing here may be reported."""
    r = returnly(
        returnly_line("1", created_at=ago(hours=1)),  # authorized, RMA open, within grace
        refunded("2", units=2),  # refunded and received in full
        refunded("2", sku="HAT-RED", unit_price=12.5, amount=12.5),
        returnly_line("3", status="in_transit", updated_at=ago(days=2)),
        returnly_line("4", status="canceled_by_merchant"),
        returnly_line("5", status="delivered"),  # received an hour ago, refund not yet due
        returnly_line("6", status="requested", created_at=ago(days=3)),  # no RMA needed yet
    )
    a = ams(
        ams_line("1", created_at=ago(minutes=50)),
        received("2", units=2),
        received("2", sku="HAT-RED"),
        ams_line("3", status="inTransit", updated_at=ago(days=2)),
        ams_line("4", status="deleted"),
        received("5", received_at=ago(hours=1)),
    )
    led = ledger(
        ledger_row("1"),
        ledger_row("2", stage="refunded", refunded=True),
        ledger_row("3", stage="in_transit"),
        ledger_row("4", stage="canceled", rma_created=False),
        ledger_row("5", stage="received"),
        ledger_row("6", stage="requested", rma_created=False),
    )
    return r, a, led


def test_clean_pairs_produce_no_drift() -> None:
    assert_drift(found(*_clean()), [])


def test_recreated_rma_uses_the_live_one() -> None:
    a = ams(
        ams_line("1", ams_id="old", status="deleted", created_at=ago(days=5)),
        ams_line("1", ams_id="new", created_at=ago(days=1)),
    )
    drift = classify(returnly(returnly_line("1", created_at=ago(days=2))), a, ledger(), now=NOW)
    assert drift.empty


def test_only_the_kept_rma_lines_are_compared() -> None:
    a = ams(
        ams_line("1", ams_id="old", status="deleted", sku="HAT-RED", created_at=ago(days=5)),
        ams_line("1", ams_id="new", created_at=ago(days=1)),
    )
    assert_drift(found(returnly(returnly_line("1")), a, ledger()), [])


def test_same_identifier_in_two_merchants_is_two_returns() -> None:
    r = returnly(returnly_line("1", merchant="acme"), refunded("1", merchant="globex"))
    a = ams(ams_line("1", merchant="acme"))
    drift = classify(r, a, ledger(), now=NOW)
    assert drift[["merchant", "customer_identifier", "kind"]].astype("str").values.tolist() == [
        ["globex", "RLY-1", "refunded_not_received"]
    ]


def test_rows_are_most_severe_then_oldest_first_and_input_order_does_not_matter() -> None:
    r = returnly(
        returnly_line("1", created_at=ago(days=9)),
        refunded("2"),
        returnly_line("3", created_at=ago(days=2)),
        returnly_line("4", status="in_transit", created_at=ago(days=1)),
    )
    drift = classify(r, ams(), ledger(), now=NOW)
    assert drift["customer_identifier"].tolist() == ["RLY-2", "RLY-4", "RLY-1", "RLY-3"]
    shuffled = classify(r.sample(frac=1.0, random_state=3), ams(), ledger(), now=NOW)
    assert_frame_equal(drift, shuffled)


def test_row_carries_ids_age_detail_and_action() -> None:
    r = returnly(refunded("7", units=2, amount=45.5))
    a = ams(ams_line("7", ams_id="uuid-7", quantity=2))
    drift = classify(r, a, ledger(), now=NOW)
    row = drift.iloc[0]
    assert (row["return_id"], row["ams_id"], row["kind"]) == (
        "7",
        "uuid-7",
        "refunded_not_received",
    )
    assert row["severity"] == "critical"
    assert row["since"] == ago(hours=12)
    assert (row["age_hours"], row["age_days"]) == (12.0, 0.5)
    assert row["detail"] == "refunded 45.50 for 2 unit(s); AMS open, nothing received"
    assert "never auto-healed" in row["suggested_action"]
    assert not row["healable"]


def test_details_of_comparison_rules() -> None:
    r = returnly(
        refunded("1", units=2),
        returnly_line("2", sku="TEE-BLACK-M"),
        returnly_line("2", sku="CAP-BLUE"),
    )
    a = ams(
        received("1", units=2, quantity_received=1, units_sellable=1, units_non_sellable=0),
        ams_line("2", sku="TEE-BLACK-M"),
        ams_line("2", sku="SOCK-9", not_on_original_rma=True, quantity=0),
        ams_line("2", sku="BAG-1"),
    )
    drift = classify(r, a, ledger(), now=NOW).set_index(["customer_identifier", "kind"])
    details = drift["detail"].astype("str").to_dict()
    assert details == {
        ("RLY-1", "quantity_mismatch"): "returned 2, RMA 2, received 1, refunded 2: "
        "over-refund, short receipt",
        ("RLY-1", "refund_amount_mismatch"): "refunded 40.00, expected 20.00 (+20.00)",
        ("RLY-2", "sku_mismatch"): "only in Returnly: 1 (CAP-BLUE); only in AMS: 2 (BAG-1)",
    }


def test_missing_timestamps_never_count_as_old() -> None:
    r = returnly(refunded("1", refunded_at=pd.NaT))
    drift = classify(r, ams(), ledger(), now=NOW)
    assert drift["since"].tolist() == [ago(days=1)]  # falls back to updated_at
