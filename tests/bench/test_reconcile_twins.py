"""The benchmark's twins of the drift classification agree with core.drift.

``bench/reconcile.py`` times core.drift against a DuckDB SQL twin and a row-by-row Python twin.
The twins take their vocabulary (status phases, status conflicts, thresholds) from core.drift;
their rule logic is the benchmark's own, so this differential test checks them against core on
the synthetic data and on the mixed-price case, without restating any rule itself. A rule
changed in core.drift fails here until the twins follow (or the bench is retired).
"""

from __future__ import annotations

import pandas as pd  # type: ignore[import-untyped]
import pytest
from pandas.testing import assert_frame_equal  # type: ignore[import-untyped]

pytest.importorskip("duckdb", reason="duckdb (a dev dependency) runs the SQL twin")

from bench import reconcile
from tests.support.drift_data import NOW, SCENARIOS_KINDS, generate, perturb
from tests.unit.drift.builders import (
    ams,
    ledger,
    ledger_row,
    received,
    refunded,
    returnly,
)
from tests.unit.drift.test_agreement import comparable
from tests.unit.drift.test_mixed_prices import JACKET


def _identities(drift: pd.DataFrame) -> set[tuple[str, str, str, str]]:
    """(merchant, identity, kind, severity) of every drift row."""
    cols = [drift[c].astype("str") for c in ("merchant", "customer_identifier", "kind", "severity")]
    return set(zip(*cols, strict=True))


def test_the_row_loop_finds_the_same_rows_with_the_same_details() -> None:
    frames = perturb(*generate(3000, seed=21)[:3], seed=5)
    core_rows = reconcile.classify(*frames, now=NOW)
    assert set(core_rows["kind"].astype("str")) == set(SCENARIOS_KINDS)
    assert_frame_equal(comparable(core_rows), comparable(reconcile.loop_classify(*frames)))


@pytest.mark.parametrize("scrambled", [False, True], ids=["planted", "scrambled"])
def test_the_sql_twin_finds_the_same_rows(scrambled: bool) -> None:
    frames = generate(3000, seed=3)[:3]
    if scrambled:
        frames = perturb(*frames)
    core_rows = _identities(reconcile.classify(*frames, now=NOW))
    assert len(core_rows) > 300
    assert core_rows == _identities(reconcile.duckdb_classify(*frames))


def test_the_twins_price_line_by_line_too() -> None:
    """One SKU at two prices, partly received (tests/unit/drift/test_mixed_prices.py)."""
    r = returnly(
        refunded("1", units=1, sku=JACKET, unit_price=204.12, refund_amount=204.12),
        refunded(
            "1", units=2, sku=JACKET, unit_price=183.71, units_refunded=1, refund_amount=183.71
        ),
        refunded("2", units=2, sku=JACKET, unit_price=183.71, refund_amount=367.42),
        refunded("2", units=1, sku=JACKET, unit_price=204.12, units_refunded=0, refund_amount=0),
    )
    a = ams(
        received("1", units=3, sku=JACKET, quantity_received=2, sellable=2),
        received("2", units=3, sku=JACKET, quantity_received=2, sellable=1),
    )
    led = ledger(ledger_row("1", refunded=True), ledger_row("2", refunded=True))
    seen = {
        name: sorted(
            zip(
                d["customer_identifier"],
                d["kind"].astype("str"),
                d["detail"].astype("str"),
                strict=True,
            )
        )
        for name, fn in reconcile.VARIANTS.items()
        for d in [fn(r, a, led)]
    }
    assert seen["pandas"] == seen["loop"] == seen["duckdb"]
    # Return 2 paid both of its first line's units, but one of the two received was damaged.
    assert ("RLY-2", "refund_amount_mismatch", "refunded 367.42, expected 183.71 (+183.71)") in (
        seen["pandas"]
    )
    assert not any(
        cid == "RLY-1" and kind == "refund_amount_mismatch" for cid, kind, _ in seen["pandas"]
    )
