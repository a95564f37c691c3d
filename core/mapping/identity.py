"""Identifiers shared by intake and completion: both sides must derive them the same way."""

from __future__ import annotations

import hashlib

from clients.returnly.models import ReturnLineItem
from core.mapping.text import clean
from core.policy import MerchantPolicy

CUSTOMER_IDENTIFIER_PREFIX = "RLY-"
HASHED_IDENTIFIER_PREFIX = "RLY-H-"
"""Used when ``RLY-<id>`` would pass AMS's 250-character limit (never seen in practice)."""
CUSTOMER_IDENTIFIER_MAX = 250
MANIFEST_ID_MAX = 20
ORDER_ID_MIN, ORDER_ID_MAX = 2, 100


def customer_identifier_for(return_id: str) -> str:
    """``RLY-<return id>``: the same return always gets the same AMS identity (§B.11).

    The prefix guarantees AMS's 5-character minimum. An id too long for the 250-character
    maximum becomes ``RLY-H-`` + the sha256 hex of the id: still deterministic and unique.
    """
    rid = return_id.strip()
    if not rid:
        raise ValueError("return_id must not be empty")
    identifier = CUSTOMER_IDENTIFIER_PREFIX + rid
    if len(identifier) <= CUSTOMER_IDENTIFIER_MAX:
        return identifier
    return HASHED_IDENTIFIER_PREFIX + hashlib.sha256(rid.encode()).hexdigest()


def manifest_id_for(rma_number: str) -> tuple[str | None, bool]:
    """The AMS ``manifest_id`` from the Returnly RMA number, and whether it had to be cut.

    An RMA number longer than 20 characters keeps its **last** 20: sequential numbers differ
    at the end, so the tail is the part a person can match. Empty -> no manifest id.
    """
    rma = clean(rma_number)
    if not rma:
        return None, False
    if len(rma) <= MANIFEST_ID_MAX:
        return rma, False
    return rma[-MANIFEST_ID_MAX:], True


def _order_candidates(line: ReturnLineItem, policy: MerchantPolicy) -> list[str | None]:
    if policy.customer_order_id_source == "none":
        return []
    if policy.customer_order_id_source == "ext_order_id":
        return [line.ext_order_id, line.ext_order_number]
    return [line.ext_order_number, line.ext_order_id]


def order_id_for(line: ReturnLineItem, policy: MerchantPolicy) -> str | None:
    """The AMS ``customer_order_id`` of a line: the policy's field, else the other one.

    A value outside AMS's 2..100 characters is skipped (AMS would refuse it); ``None`` when no
    usable value exists, and then AMS does not check the order at all (§B.3).
    """
    for candidate in _order_candidates(line, policy):
        value = clean(candidate)
        if ORDER_ID_MIN <= len(value) <= ORDER_ID_MAX:
            return value
    return None


def sku_of(line: ReturnLineItem) -> str:
    """The line's SKU as sent to AMS (cleaned; ``""`` when missing)."""
    return clean(line.sku)
