"""The seeded SKU catalog shared by both sandboxes, so seeded returns map onto known SKUs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogItem:
    """One product variant known to the warehouse."""

    sku: str
    name: str
    price: str


_COLOURS = ["Black", "White", "Navy", "Olive", "Rust", "Heather Grey"]
_PRODUCTS = [
    ("TEE", "Organic Tee", "28.00"),
    ("HOOD", "Fleece Hoodie", "74.00"),
    ("JEAN", "Slim Jean", "98.00"),
    ("SOCK", "Merino Sock", "16.00"),
    ("CAP", "Wool Cap", "32.00"),
    ("JKT", "Rain Jacket", "189.00"),
]
_SIZES = ["XS", "S", "M", "L", "XL"]


def build_catalog() -> list[CatalogItem]:
    """180 deterministic SKUs such as ``TEE-BLACK-M``."""
    items = []
    for code, name, price in _PRODUCTS:
        for colour in _COLOURS:
            for size in _SIZES:
                sku = f"{code}-{colour.split()[-1].upper()}-{size}"
                items.append(CatalogItem(sku=sku, name=f"{name} {colour} {size}", price=price))
    return items


CATALOG: list[CatalogItem] = build_catalog()
CATALOG_SKUS: frozenset[str] = frozenset(i.sku for i in CATALOG)
UNKNOWN_SKU = "ZZ-NOT-IN-CATALOG"
"""A SKU that the AMS sandbox refuses; seeds use it to produce the unknown-SKU case."""
