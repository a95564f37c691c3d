"""Table-driven tests of every drift rule: tiny inline frames and the exact rows expected."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.drift.builders import (
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
from tests.unit.drift.expect import Expected, assert_drift, found

Case = tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], Expected]


def case(
    r: list[dict[str, Any]],
    a: list[dict[str, Any]],
    led: list[dict[str, Any]],
    rows: Expected,
    id: str,
) -> Any:
    return pytest.param(r, a, led, rows, id=id)


AUTHORIZED_NO_RMA = [
    case(
        [returnly_line("1", created_at=ago(hours=5))],
        [],
        [],
        [("RLY-1", "authorized_no_rma", "medium", True)],
        "authorized-past-grace",
    ),
    case(
        [returnly_line("1", status="in_transit", created_at=ago(days=3))],
        [],
        [],
        [("RLY-1", "authorized_no_rma", "high", True)],
        "goods-moving-without-rma-is-high",
    ),
    case([returnly_line("1", created_at=ago(hours=3))], [], [], [], "within-grace"),
    case([returnly_line("1", status="requested", created_at=ago(days=5))], [], [], [], "requested"),
    case(
        [returnly_line("1", status="canceled_by_merchant", created_at=ago(days=5))],
        [],
        [],
        [],
        "canceled-needs-no-rma",
    ),
    case(
        [returnly_line("1", created_at=ago(days=2))],
        [],
        [ledger_row("1", rma_created=True)],
        [
            ("RLY-1", "authorized_no_rma", "medium", False),
            ("RLY-1", "ledger_disagrees", "medium", False),
        ],
        "ledger-claims-rma-blocks-healing",
    ),
]

ORPHAN_RMA = [
    case(
        [],
        [ams_line("1", created_at=ago(hours=2))],
        [],
        [("RLY-1", "orphan_rma", "medium", False)],
        "open",
    ),
    case(
        [],
        [received("WH-77"), ams_line("1", created_at=ago(minutes=30))],
        [],
        [("RLY-WH-77", "orphan_rma", "high", False)],
        "received-goods-is-high-and-grace-applies",
    ),
    case(
        [],
        [ams_line("1", status="deleted", created_at=ago(days=3))],
        [],
        [],
        "deleted-is-not-orphan",
    ),
]

RECEIVED_NOT_REFUNDED = [
    case(
        [returnly_line("1", status="delivered")],
        [received("1", received_at=ago(days=3))],
        [ledger_row("1")],
        [("RLY-1", "received_not_refunded", "medium", True)],
        "past-grace",
    ),
    case(
        [returnly_line("1", status="delivered")],
        [received("1", received_at=ago(hours=47))],
        [],
        [],
        "within-grace",
    ),
    case(
        [returnly_line("1", status="pending_refund")],
        [received("1", sellable=0, received_at=ago(days=3))],
        [],
        [],
        "damaged-only-with-default-policy-is-not-refundable",
    ),
    case(
        [returnly_line("1", status="delivered", units_returned=2)],
        [
            received(
                "1",
                units=2,
                received_at=ago(days=3),
                quantity_received=1,
                units_sellable=1,
                units_non_sellable=0,
            )
        ],
        [],
        [
            ("RLY-1", "quantity_mismatch", "low", False),
            ("RLY-1", "received_not_refunded", "medium", True),
        ],
        "short-receipt-stays-healable",
    ),
]

REFUNDED_NOT_RECEIVED = [
    case(
        [refunded("1")], [], [], [("RLY-1", "refunded_not_received", "critical", False)], "no-rma"
    ),
    case(
        [refunded("1")],
        [ams_line("1", status="inTransit")],
        [ledger_row("1", refunded=True, stage="refunded")],
        [("RLY-1", "refunded_not_received", "critical", False)],
        "rma-in-transit",
    ),
    case(
        [returnly_line("1", status="refunded")],
        [ams_line("1")],
        [],
        [("RLY-1", "refunded_not_received", "high", False)],
        "refunded-status-without-money-is-high",
    ),
    case([refunded("1")], [received("1")], [ledger_row("1", refunded=True)], [], "received"),
]

QUANTITY_MISMATCH = [
    case(
        [refunded("1", units=2)],
        [
            received(
                "1",
                units=2,
                quantity_received=1,
                units_sellable=1,
                units_non_sellable=0,
            )
        ],
        [ledger_row("1", refunded=True)],
        [
            ("RLY-1", "quantity_mismatch", "high", False),
            ("RLY-1", "refund_amount_mismatch", "high", False),
        ],
        "over-refund",
    ),
    case(
        [refunded("1", units=2, units_refunded=1, refund_amount=20.0)],
        [received("1", units=2)],
        [ledger_row("1", refunded=True)],
        [
            ("RLY-1", "quantity_mismatch", "medium", False),
            ("RLY-1", "refund_amount_mismatch", "medium", False),
        ],
        "under-refund",
    ),
    case(
        [returnly_line("1")],
        [ams_line("1", quantity=2)],
        [ledger_row("1")],
        [("RLY-1", "quantity_mismatch", "medium", False)],
        "rma-quantity-differs",
    ),
    case(
        [returnly_line("1", status="delivered", created_at=ago(hours=2))],
        [received("1", received_at=ago(hours=1), quantity_received=2, units_sellable=2)],
        [ledger_row("1")],
        [("RLY-1", "quantity_mismatch", "low", False)],
        "over-receipt",
    ),
]

REFUND_AMOUNT_MISMATCH = [
    case(
        [refunded("1", amount=25.0)],
        [received("1")],
        [ledger_row("1", refunded=True)],
        [("RLY-1", "refund_amount_mismatch", "high", False)],
        "over-paid",
    ),
    case(
        [refunded("1", amount=15.0)],
        [received("1")],
        [ledger_row("1", refunded=True)],
        [("RLY-1", "refund_amount_mismatch", "medium", False)],
        "under-paid",
    ),
    case(
        [refunded("1", amount=20.01)],
        [received("1")],
        [ledger_row("1", refunded=True)],
        [],
        "within-tolerance",
    ),
    case(
        [refunded("1", amount=20.0)],
        [received("1", sellable=0)],
        [ledger_row("1", refunded=True)],
        [("RLY-1", "refund_amount_mismatch", "high", False)],
        "damaged-refunded-against-default-policy",
    ),
]

STATUS_MISMATCH = [
    case(
        [returnly_line("1", status="canceled_by_merchant")],
        [ams_line("1")],
        [ledger_row("1")],
        [("RLY-1", "status_mismatch", "medium", False)],
        "canceled-but-rma-open",
    ),
    case(
        [returnly_line("1", status="cancelled")],
        [received("1")],
        [ledger_row("1")],
        [("RLY-1", "status_mismatch", "high", False)],
        "canceled-but-goods-received",
    ),
    case(
        [refunded("1")],
        [ams_line("1", status="deleted")],
        [ledger_row("1", refunded=True, rma_created=False)],
        [
            ("RLY-1", "refunded_not_received", "critical", False),
            ("RLY-1", "status_mismatch", "high", False),
        ],
        "refunded-but-rma-deleted",
    ),
    case(
        [returnly_line("1", created_at=ago(days=2))],
        [ams_line("1", status="deleted")],
        [ledger_row("1", rma_created=False)],
        [("RLY-1", "status_mismatch", "medium", False)],
        "deleted-rma-is-not-missing",
    ),
    case(
        [returnly_line("1", status="requested")],
        [ams_line("1")],
        [ledger_row("1")],
        [("RLY-1", "status_mismatch", "low", False)],
        "rma-before-authorization",
    ),
    case(
        [returnly_line("1", status="on_hold")],
        [ams_line("1", status="lost")],
        [ledger_row("1")],
        [],
        "unknown-statuses-are-not-drift",
    ),
]

SKU_MISMATCH = [
    case(
        [returnly_line("1", sku="TEE-BLACK-M")],
        [ams_line("1", sku="HAT-RED")],
        [ledger_row("1")],
        [("RLY-1", "sku_mismatch", "medium", False)],
        "different-sku",
    ),
    case(
        [returnly_line("1", status="delivered", created_at=ago(hours=2))],
        [
            received("1", received_at=ago(hours=1)),
            received(
                "1",
                sku="SOCK-9",
                quantity=0,
                received_at=ago(hours=1),
                not_on_original_rma=True,
            ),
        ],
        [ledger_row("1")],
        [("RLY-1", "sku_mismatch", "medium", False)],
        "unexpected-item-received",
    ),
    case(
        [returnly_line("1"), returnly_line("1")],
        [ams_line("1", quantity=2)],
        [ledger_row("1")],
        [],
        "two-order-lines-of-one-sku-compare-as-one",
    ),
    case(
        [returnly_line("1", sku=None, units_returned=0)],
        [ams_line("1", sku=None, quantity=0)],
        [ledger_row("1")],
        [],
        "header-only-rows-take-no-part",
    ),
]

STUCK_IN_TRANSIT = [
    case(
        [returnly_line("1", status="in_transit", updated_at=ago(days=15))],
        [ams_line("1", status="inTransit", updated_at=ago(days=15))],
        [ledger_row("1")],
        [("RLY-1", "stuck_in_transit", "low", False)],
        "both-stale",
    ),
    case(
        [returnly_line("1", status="in_transit", updated_at=ago(days=30))],
        [ams_line("1", status="tendered", updated_at=ago(days=30))],
        [ledger_row("1")],
        [("RLY-1", "stuck_in_transit", "medium", False)],
        "twice-the-limit-is-medium",
    ),
    case(
        [returnly_line("1", status="in_transit", updated_at=ago(days=20))],
        [ams_line("1", status="inTransit", updated_at=ago(days=2))],
        [ledger_row("1")],
        [],
        "progress-on-one-side",
    ),
    case(
        [returnly_line("1", status="in_transit", updated_at=ago(days=20))],
        [ams_line("1", status="delivered", updated_at=ago(days=20))],
        [ledger_row("1")],
        [],
        "arrived",
    ),
]

LEDGER_DISAGREES = [
    case(
        [returnly_line("1")],
        [ams_line("1")],
        [ledger_row("1", refunded=True)],
        [("RLY-1", "ledger_disagrees", "high", False)],
        "ledger-says-refunded",
    ),
    case(
        [refunded("1")],
        [received("1")],
        [ledger_row("1")],
        [("RLY-1", "ledger_disagrees", "medium", False)],
        "refund-made-outside-the-bridge",
    ),
    case(
        [returnly_line("1")],
        [ams_line("1")],
        [ledger_row("1", rma_created=False)],
        [("RLY-1", "ledger_disagrees", "low", False)],
        "rma-not-recorded",
    ),
    case([returnly_line("1")], [ams_line("1")], [], [], "no-ledger-row-no-opinion"),
]


@pytest.mark.parametrize(
    ("r", "a", "led", "rows"),
    [
        *AUTHORIZED_NO_RMA,
        *ORPHAN_RMA,
        *RECEIVED_NOT_REFUNDED,
        *REFUNDED_NOT_RECEIVED,
        *QUANTITY_MISMATCH,
        *REFUND_AMOUNT_MISMATCH,
        *STATUS_MISMATCH,
        *SKU_MISMATCH,
        *STUCK_IN_TRANSIT,
        *LEDGER_DISAGREES,
    ],
)
def test_classify_finds_exactly_the_expected_rows(
    r: list[dict[str, Any]],
    a: list[dict[str, Any]],
    led: list[dict[str, Any]],
    rows: Expected,
) -> None:
    assert_drift(found(returnly(*r), ams(*a), ledger(*led)), rows)
