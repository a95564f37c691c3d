"""Realistic, reproducible returns for the sandbox: the awkward cases appear at known rates.

Most returns are plain (one order, catalog SKUs, US address, one label, authorized). The rest
exercise what the bridge must cope with: several orders, no label, exchanges and gifts, non-US
addresses, unicode names, address lines over AMS's 40 characters, lines without a SKU, one line
per unit, an SKU the warehouse does not know, and returns still ``requested``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sandbox.catalog import CATALOG, UNKNOWN_SKU
from sandbox.returnly.specs import (
    AddressSpec,
    LabelSpec,
    LineSpec,
    RepurchaseSpec,
    ReturnSpec,
    VoucherSpec,
)

SPREAD = timedelta(days=7)
"""How far back seeded ``created_at`` values go."""

_NAMES = [
    "Jane Doe",
    "Sam Carter",
    "Priya Patel",
    "Zoë Ångström",
    "José Nuñez",
    "李小龙",
    "Olúwaseun Adébáyọ̀",
    "Marie-Thérèse O'Connor",
]
_US = [
    ("Austin", "TX", "78701"),
    ("Brooklyn", "NY", "11201"),
    ("Portland", "OR", "97205"),
    ("Chicago", "IL", "60601"),
]
_FOREIGN = [
    AddressSpec(
        name="",
        line1="200 King St W",
        city="Toronto",
        state="ON",
        postal_code="M5H 3T4",
        country_code="CA",
    ),
    AddressSpec(
        name="",
        line1="10 Downing Street",
        city="London",
        state="LND",
        postal_code="SW1A 2AA",
        country_code="GB",
    ),
    AddressSpec(
        name="",
        line1="Unter den Linden 77",
        city="Berlin",
        state="BE",
        postal_code="10117",
        country_code="DE",
    ),
]
_LONG_LINE = "Apartment 1204, The Grand Residences at Riverside Park North"
_CAUSES = [
    ("too_big", "Runs large"),
    ("too_small", "Runs small"),
    ("damaged", "Seam ripped on arrival"),
    ("wrong_item", "Received a different colour"),
    ("changed_mind", None),
    ("not_as_described", "Fabric thinner than pictured"),
]
_CARRIERS = ["USPS", "UPS", "FedEx", "DHL eCommerce"]


def _address(rng: random.Random) -> AddressSpec:
    name = rng.choice(_NAMES)
    if rng.random() < 0.08:
        return rng.choice(_FOREIGN).model_copy(update={"name": name})
    city, state, postal = rng.choice(_US)
    line1 = f"{rng.randint(1, 9999)} {rng.choice(['Oak', 'Main', 'Elm', 'Pine'])} St"
    line2 = (
        _LONG_LINE
        if rng.random() < 0.05
        else (f"Apt {rng.randint(1, 99)}" if rng.random() < 0.3 else None)
    )
    if rng.random() < 0.03:
        line1 = f"{line1}, Building C, Attention Receiving Department"
    return AddressSpec(
        name=name,
        line1=line1,
        line2=line2,
        city=city,
        state=state,
        postal_code=postal,
        country_code="US",
    )


def _lines(rng: random.Random, n_labels: int) -> list[LineSpec]:
    n_orders = 2 if rng.random() < 0.12 else 1
    orders = [
        (str(4_400_000_000_000 + rng.randint(0, 99_999_999)), f"#{rng.randint(1000, 99999)}")
        for _ in range(n_orders)
    ]
    lines: list[LineSpec] = []
    for i in range(rng.choices([1, 2, 3, 4], weights=[50, 30, 14, 6])[0]):
        item = rng.choice(CATALOG)
        sku: str | None = item.sku
        roll = rng.random()
        if roll < 0.02:
            sku = None
        elif roll < 0.03:
            sku = UNKNOWN_SKU
        cause, sub = rng.choice(_CAUSES)
        order_id, order_no = orders[i % n_orders]
        price = Decimal(item.price)
        discount = (
            (price * Decimal("0.10")).quantize(Decimal("0.01"))
            if rng.random() < 0.2
            else Decimal("0.00")
        )
        units = rng.choices([1, 2, 3], weights=[80, 15, 5])[0]
        # model_construct: the values are valid by construction, and seeding 50k must be quick.
        base = LineSpec.model_construct(
            sku=sku,
            units=units,
            unit_price=price,
            unit_discount=discount,
            unit_tax=((price - discount) * Decimal("0.08")).quantize(Decimal("0.01")),
            product_name=item.name,
            ext_order_id=order_id,
            ext_order_number=order_no,
            ext_order_line_item_id=f"{order_id[-6:]}{i:02d}",
            return_cause=cause,
            return_sub_cause=sub,
            label_index=(i % n_labels) if n_labels else None,
        )
        if units > 1 and rng.random() < 0.3:
            # One line per unit: same SKU and order line repeated (contracts §A.8.6).
            lines.extend(base.model_copy(update={"units": 1}) for _ in range(units))
        else:
            lines.append(base)
    return lines


def generate(count: int, seed: int = 0, now: datetime | None = None) -> Iterator[ReturnSpec]:
    """``count`` varied returns, the same ones for the same seed and ``now``."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    for _ in range(count):
        created = now - SPREAD * rng.random()
        updated = min(created + timedelta(hours=rng.random() * 48), now)
        n_labels = 0 if rng.random() < 0.15 else (2 if rng.random() < 0.08 else 1)
        is_exchange = rng.random() < 0.1
        spec = ReturnSpec(
            status="requested" if rng.random() < 0.1 else "authorized",
            created_at=created,
            updated_at=updated,
            shopper_email=f"shopper{rng.randint(1, 10**6)}@example.com",
            is_exchange=is_exchange,
            is_gift=rng.random() < 0.05,
            ext_store_id=None if rng.random() < 0.02 else "sandbox-store",
            address=_address(rng),
            lines=_lines(rng, n_labels),
            labels=[
                LabelSpec.model_construct(carrier=rng.choice(_CARRIERS)) for _ in range(n_labels)
            ],
        )
        if is_exchange or rng.random() < 0.05:
            spec.voucher = VoucherSpec(credit_issued_amount=Decimal("25.00"))
            if rng.random() < 0.5:
                spec.repurchases = [RepurchaseSpec(total_order_amount=Decimal("40.00"))]
        yield spec
