"""Grace periods at their boundaries, per-merchant thresholds, and the refund policy."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
import pytest

from core.drift import DriftThresholds, MerchantThresholds, damaged_refund_fraction
from core.policy import InventoryStatusRule, MerchantPolicy
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

SECOND = pd.Timedelta(seconds=1)
DEFAULT = DriftThresholds()


def _at(limit: timedelta, offset: pd.Timedelta) -> pd.Timestamp:
    return NOW - pd.Timedelta(limit) + offset


@pytest.mark.parametrize(
    ("offset", "drifts"),
    [
        pytest.param(SECOND, False, id="one-second-before"),
        pytest.param(pd.Timedelta(0), False, id="exactly-at-the-limit"),
        pytest.param(-SECOND, True, id="one-second-after"),
    ],
)
@pytest.mark.parametrize(
    ("kind", "build"),
    [
        pytest.param(
            "authorized_no_rma",
            lambda at: ([returnly_line("1", created_at=at)], [], []),
            id="authorized_no_rma",
        ),
        pytest.param(
            "orphan_rma",
            lambda at: ([], [ams_line("1", created_at=at)], []),
            id="orphan_rma",
        ),
        pytest.param(
            "received_not_refunded",
            lambda at: (
                [returnly_line("1", status="delivered")],
                [received("1", received_at=at)],
                [ledger_row("1")],
            ),
            id="received_not_refunded",
        ),
        pytest.param(
            "stuck_in_transit",
            lambda at: (
                [returnly_line("1", status="in_transit", updated_at=at)],
                [ams_line("1", status="inTransit", updated_at=at)],
                [ledger_row("1")],
            ),
            id="stuck_in_transit",
        ),
    ],
)
def test_drift_starts_strictly_after_the_grace_period(
    kind: str, build: Any, offset: pd.Timedelta, drifts: bool
) -> None:
    limit = {
        "authorized_no_rma": DEFAULT.authorized_no_rma_grace,
        "orphan_rma": DEFAULT.orphan_rma_grace,
        "received_not_refunded": DEFAULT.received_not_refunded_grace,
        "stuck_in_transit": DEFAULT.stuck_in_transit_after,
    }[kind]
    r, a, led = build(_at(limit, offset))
    kinds = set(found(returnly(*r), ams(*a), ledger(*led))["kind"])
    assert (kind in kinds) is drifts


@pytest.mark.parametrize(
    ("amount", "drifts"),
    [
        pytest.param(20.01, False, id="at-tolerance"),
        pytest.param(19.99, False, id="at-tolerance-below"),
        pytest.param(20.02, True, id="beyond-tolerance"),
        pytest.param(19.98, True, id="beyond-tolerance-below"),
    ],
)
def test_amount_tolerance_boundary(amount: float, drifts: bool) -> None:
    kinds = set(
        found(
            returnly(refunded("1", amount=amount)),
            ams(received("1")),
            ledger(ledger_row("1", refunded=True)),
        )["kind"]
    )
    assert ("refund_amount_mismatch" in kinds) is drifts


def test_thresholds_apply_per_merchant() -> None:
    lenient = DriftThresholds(authorized_no_rma_grace=timedelta(days=3))
    book = MerchantThresholds(by_merchant={"slow": lenient})
    r = returnly(
        returnly_line("1", created_at=ago(days=2)),
        returnly_line("2", created_at=ago(days=2), merchant="slow"),
    )
    assert_drift(found(r, ams(), ledger(), book), [("RLY-1", "authorized_no_rma", "medium", True)])


@pytest.mark.parametrize(
    ("fraction", "amount", "rows"),
    [
        pytest.param(0.0, 0.0, [], id="held-pays-nothing"),
        pytest.param(0.5, 10.0, [], id="half-refund-matches"),
        pytest.param(
            0.5, 20.0, [("RLY-1", "refund_amount_mismatch", "high", False)], id="full-is-too-much"
        ),
    ],
)
def test_damaged_units_follow_the_policy_fraction(
    fraction: float, amount: float, rows: list[tuple[str, str, str, bool]]
) -> None:
    units = 0 if fraction == 0 else 1
    r = returnly(refunded("1", amount=amount, units_refunded=units))
    a = ams(received("1", sellable=0))
    led = ledger(ledger_row("1", refunded=True))
    thresholds = DriftThresholds(damaged_refund_fraction=fraction)
    assert_drift(found(r, a, led, thresholds), rows)


@pytest.mark.parametrize(
    ("rule", "fraction"),
    [
        pytest.param(InventoryStatusRule(action="review"), 0.0, id="review"),
        pytest.param(InventoryStatusRule(action="refund"), 1.0, id="refund"),
        pytest.param(
            InventoryStatusRule(action="refund_with_deduction", deduction_fraction="0.25"),
            0.75,
            id="deduction",
        ),
    ],
)
def test_damaged_refund_fraction_reads_the_merchant_policy(
    rule: InventoryStatusRule, fraction: float
) -> None:
    policy = MerchantPolicy(inventory_status_policy={"available": rule, "damaged": rule})
    assert damaged_refund_fraction(policy) == fraction
    assert DriftThresholds().with_policy(policy).damaged_refund_fraction == fraction


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"authorized_no_rma_grace": timedelta(hours=-1)}, id="negative-grace"),
        pytest.param({"amount_tolerance": -0.01}, id="negative-tolerance"),
        pytest.param({"damaged_refund_fraction": 1.5}, id="fraction-above-one"),
    ],
)
def test_thresholds_reject_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        DriftThresholds(**kwargs)
