"""Identifiers: customer_identifier, manifest_id, customer_order_id."""

from __future__ import annotations

import pytest

from core.mapping import customer_identifier_for, manifest_id_for, order_id_for
from tests.unit.core.factories import line, policy


@pytest.mark.parametrize(
    ("return_id", "expected"),
    [
        pytest.param("1", "RLY-1", id="one-char-id-meets-minimum-5"),
        pytest.param("1001", "RLY-1001", id="numeric"),
        pytest.param("  42 ", "RLY-42", id="stripped"),
        pytest.param("r" * 246, "RLY-" + "r" * 246, id="exactly-250"),
    ],
)
def test_customer_identifier_for(return_id: str, expected: str) -> None:
    cid = customer_identifier_for(return_id)

    assert cid == expected
    assert 5 <= len(cid) <= 250


def test_customer_identifier_for_over_long_id_is_hashed_deterministically() -> None:
    long_id = "r" * 247

    cid = customer_identifier_for(long_id)

    assert cid.startswith("RLY-H-")
    assert len(cid) == 70
    assert cid == customer_identifier_for(long_id)
    assert cid != customer_identifier_for("s" * 247)


@pytest.mark.parametrize(
    "return_id", [pytest.param("", id="empty"), pytest.param("  ", id="blank")]
)
def test_customer_identifier_for_empty_id_raises(return_id: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        customer_identifier_for(return_id)


@pytest.mark.parametrize(
    ("rma", "expected", "cut"),
    [
        pytest.param("RMA1001", "RMA1001", False, id="short"),
        pytest.param("A" * 20, "A" * 20, False, id="exactly-20"),
        pytest.param("STORE-2024-000000012345", "RE-2024-000000012345", True, id="long-keeps-tail"),
        pytest.param(" RMA 7 ", "RMA 7", False, id="whitespace-cleaned"),
        pytest.param("", None, False, id="empty"),
    ],
)
def test_manifest_id_for(rma: str, expected: str | None, cut: bool) -> None:
    assert manifest_id_for(rma) == (expected, cut)


@pytest.mark.parametrize(
    ("number", "ext_id", "source", "expected"),
    [
        pytest.param("#1001", "5001", "ext_order_number", "#1001", id="number-preferred"),
        pytest.param(None, "5001", "ext_order_number", "5001", id="number-missing-uses-id"),
        pytest.param("#", "5001", "ext_order_number", "5001", id="number-too-short-uses-id"),
        pytest.param("N" * 101, "5001", "ext_order_number", "5001", id="number-too-long-uses-id"),
        pytest.param("#1001", "5001", "ext_order_id", "5001", id="id-preferred-by-policy"),
        pytest.param("#1001", None, "ext_order_id", "#1001", id="id-missing-uses-number"),
        pytest.param("#1001", "5001", "none", None, id="policy-none"),
        pytest.param(None, "7", "ext_order_number", None, id="nothing-usable"),
    ],
)
def test_order_id_for(
    number: str | None, ext_id: str | None, source: str, expected: str | None
) -> None:
    item = line(order=number, order_id=ext_id)

    assert order_id_for(item, policy(customer_order_id_source=source)) == expected
