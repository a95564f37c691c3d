"""What mapping a return produces: an RMA with its adjustments, or the issues that hold it."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from clients.ams.models import RmaCreate


class MappingIssueCode(StrEnum):
    """Why a return cannot become an RMA without a person (a ledger exception kind)."""

    NO_LINE_ITEMS = "no_line_items"
    MISSING_SKU = "missing_sku"
    INVALID_SKU = "invalid_sku"
    UNKNOWN_SKU = "unknown_sku"
    INVALID_UNITS = "invalid_units"
    NON_US_WITHOUT_LABEL = "non_us_without_label"
    INCOMPLETE_ADDRESS = "incomplete_address"
    INVALID_ADDRESS = "invalid_address"
    INVALID_TRACKING_NUMBER = "invalid_tracking_number"
    EXCHANGE_HELD = "exchange_held"
    GIFT_HELD = "gift_held"
    AMS_RULE = "ams_rule"
    """Defensive: the built record still broke a §B.3 rule (a bug in these rules)."""


class MappingIssue(BaseModel):
    """One reason the return is held; ``field`` points into the Returnly return."""

    model_config = ConfigDict(frozen=True)

    code: MappingIssueCode
    message: str
    field: str | None = None


class Adjustment(BaseModel):
    """A change made to fit AMS (a cut, a move, a fallback); ``field`` is the AMS field."""

    model_config = ConfigDict(frozen=True)

    field: str
    message: str


class MappedRma(BaseModel):
    """The return maps to a valid RMA (``rma_problems`` is empty); adjustments say what changed."""

    model_config = ConfigDict(frozen=True)

    ok: Literal[True] = True
    rma: RmaCreate
    adjustments: list[Adjustment] = Field(default_factory=list)


class MappingRejected(BaseModel):
    """The return is held for review as a whole: nothing is sent, nothing silently dropped."""

    model_config = ConfigDict(frozen=True)

    ok: Literal[False] = False
    issues: list[MappingIssue] = Field(min_length=1)
    adjustments: list[Adjustment] = Field(default_factory=list)


MappingResult = MappedRma | MappingRejected
"""Either outcome; test with ``result.ok`` or ``isinstance``."""
