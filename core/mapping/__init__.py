"""Returnly return -> AMS RMA mapping: pure rules, no I/O (contracts §B.3, §B.11)."""

from core.mapping.address import FittedAddress, fit_address
from core.mapping.identity import (
    customer_identifier_for,
    manifest_id_for,
    order_id_for,
    sku_of,
)
from core.mapping.lines import GroupKey, group_key
from core.mapping.result import (
    Adjustment,
    MappedRma,
    MappingIssue,
    MappingIssueCode,
    MappingRejected,
    MappingResult,
)
from core.mapping.rma import is_exchange, map_return_to_rma

__all__ = [
    "Adjustment",
    "FittedAddress",
    "GroupKey",
    "MappedRma",
    "MappingIssue",
    "MappingIssueCode",
    "MappingRejected",
    "MappingResult",
    "customer_identifier_for",
    "fit_address",
    "group_key",
    "is_exchange",
    "manifest_id_for",
    "map_return_to_rma",
    "order_id_for",
    "sku_of",
]
