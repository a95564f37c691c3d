"""Generated Returnly returns -> a valid AMS RMA (per MasonHub's schema) or a held return.

Any return the Returnly model accepts must map to either an RMA record that validates
against the ``POST /rmas`` request schema of MasonHub's OpenAPI document, or a
``MappingRejected`` with its issues (which intake records as a review exception); never an
exception. Text fields mix realistic values with arbitrary unicode, control characters and
over-long strings.

Cases per run: ``MAX_EXAMPLES`` (600), derandomized.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from clients.returnly.models import Return, ReturnLineItem, ShippingLabel, ShopperAddress
from core.mapping import MappedRma, MappingRejected, map_return_to_rma
from core.policy import MerchantPolicy
from tests.contract.openapi import errors_of, request_schema

MAX_EXAMPLES = 600
WHEN = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def mostly(usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> Any:
    """``usual`` four times in five, else ``other`` (``one_of`` would pick half and half)."""
    return st.integers(0, 4).flatmap(lambda n: other if n == 0 else usual)


def text(*realistic: str, max_size: int = 80) -> st.SearchStrategy[str | None]:
    """Mostly realistic values (so that many returns map), else arbitrary text (any code
    point, long), or nothing."""
    hostile = st.one_of(
        st.text(max_size=max_size),
        st.text(st.characters(codec="utf-8"), min_size=100, max_size=400),
        st.none(),
    )
    return mostly(st.sampled_from(realistic), hostile) if realistic else hostile


money = st.one_of(
    st.none(),
    st.decimals(min_value=Decimal("-1e6"), max_value=Decimal("1e9"), places=2),
)

lines = st.builds(
    ReturnLineItem,
    id=st.text(min_size=1, max_size=12),
    sku=text("TEE-BLACK-M", "MUG-WHITE", "HAT-RED-L", "TEE-BLACK-M"),
    units=mostly(st.integers(1, 5), st.integers(min_value=-2, max_value=100_000)),
    ext_order_id=text("5001", "5002"),
    ext_order_number=text("#1001", "#1002", "1001"),
    ext_order_line_item_id=text("OL1", "OL2"),
    return_cause=text("too_big", "too_small", "damaged", "changed_mind", "other"),
    return_sub_cause=text("stain", "torn"),
    estimated_refund_amount=money,
    product_name=text("Tee", "Mug"),
)

addresses = st.builds(
    ShopperAddress,
    name=text("Ada Lovelace", "Jo"),
    line1=text("12 Analytical Way", "1 " + "Very Long Street Name " * 4),
    line2=text("Apt 4", ""),
    city=text("Portland", "New York", "Montréal"),
    state=text("OR", "Oregon", "NY", "new york", "QC", "ZZ"),
    postal_code=text("97201", "97201-1234", "H2X 1Y4", "1"),
    country_code=text("US", "US", "US", "us", "USA", "CA", "GB", ""),
)

labels = st.builds(
    ShippingLabel,
    id=st.text(min_size=1, max_size=8),
    carrier=text("USPS", "UPS"),
    tracking_number=text("9400111899223344556677", "1Z999AA10123456784", "short", "x" * 40),
)

returns = st.builds(
    Return,
    id=st.text(min_size=1, max_size=30),
    rma=st.text(max_size=40),
    status=st.sampled_from(["authorized", "in_transit", "delivered", "canceled_by_merchant"]),
    created_at=st.just(WHEN),
    updated_at=st.just(WHEN),
    is_exchange=st.booleans(),
    is_gift=st.booleans(),
    shopper_message=text("please hurry"),
    shopper_address=mostly(addresses, st.none()),
    line_items=mostly(st.lists(lines, min_size=1, max_size=4), st.just([])),
    shipping_labels=st.lists(labels, max_size=3),
)


@functools.cache
def _rma_schema() -> dict[str, Any]:
    return request_schema("/rmas", "post")


@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ret=returns, known=st.booleans())
def test_any_return_maps_to_a_schema_valid_rma_or_is_held(ret: Return, known: bool) -> None:
    skus = {line.sku for line in ret.line_items if line.sku} if known else None

    result = map_return_to_rma(ret, MerchantPolicy(), known_skus=skus)

    event("mapped" if result.ok else "held: " + ",".join(sorted({i.code for i in result.issues})))
    if isinstance(result, MappedRma):
        problems = errors_of(_rma_schema(), [result.rma.to_wire()])
        assert problems == [], problems
    else:
        assert isinstance(result, MappingRejected) and result.issues
        assert all(issue.message for issue in result.issues)
