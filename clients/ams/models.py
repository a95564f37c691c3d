"""Typed AMS payloads (contracts §B): request bodies forbid unknown fields, responses keep them.

Sources disagree on several shapes (§B.2, §B.5, §B.9); response models accept every variant
seen (``uri``/``url``, ``customer_instruction``/``customer_instructions``, string versions,
three ``messages`` shapes) and request models emit only what the spec schema says.
Batch results live in :mod:`clients.ams.batch` and the rmaEvent callback models in
:mod:`clients.ams.events`; both are re-exported here and by the package.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator

from clients.ams.batch import (
    AmsBatchError,
    BatchRecordResult,
    BatchResult,
    FieldMessage,
    parse_messages,
)
from clients.ams.statuses import EDITABLE_STATUSES, RMA_STATUSES
from clients.ams.validation import (
    AmsRequestRejectedError,
    check_batch,
    check_callback,
    check_rma,
    check_rmas,
    rma_problems,
)

__all__ = [
    "EDITABLE_STATUSES",
    "RMA_STATUSES",
    "SELLABLE_INVENTORY_STATUSES",
    "AmsBatchError",
    "AmsRequestRejectedError",
    "BatchRecordResult",
    "BatchResult",
    "Callback",
    "CallbackCreate",
    "CallbackMessageType",
    "FieldMessage",
    "ReceivingDetail",
    "Rma",
    "RmaCreate",
    "RmaLine",
    "RmaLineItemCreate",
    "RmaUpdate",
    "check_batch",
    "check_callback",
    "check_rma",
    "check_rmas",
    "parse_messages",
    "rma_problems",
]

CallbackMessageType = Literal[
    "skuInventoryChange",
    "orderEvent",
    "orderUpdateResolution",
    "orderCancelResolution",
    "inboundShipmentEvent",
    "rmaEvent",
    "snapshotReady",
]

SELLABLE_INVENTORY_STATUSES = frozenset({"available"})
"""On the way in, only ``available`` is sellable; every other status goes to review (§B.9)."""


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_wire(self) -> dict[str, Any]:
        """The JSON body AMS expects: absent optionals are omitted, never sent as null."""
        return self.model_dump(mode="json", exclude_none=True)


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


# --- requests -------------------------------------------------------------------------------


class RmaLineItemCreate(_Request):
    """One expected SKU on a new RMA; the SKU must exist in the AMS catalog."""

    customer_sku_id: str
    quantity: int = Field(ge=1)
    return_reason_code: str
    """One of the five spec codes (tooBig, tooSmall, damaged, wrongItem, other)."""
    return_inventory_status: str
    """The *requested* target status, not the inspection result (§B.7)."""
    customer_order_id: str | None = None
    return_notes: str | None = None


class RmaCreate(_Request):
    """Body record of POST /rmas and PUT /rmas (PUT is a full replacement with the same shape)."""

    customer_identifier: str
    manifest_id: str | None = None
    return_type: str = "rma_submitted_by_customer"
    """Only ``rma_submitted_by_customer`` is known to work against the real API (§B.9)."""
    generate_return_label: bool = True
    package_id: str | None = None
    """Required when ``generate_return_label`` is false (the existing tracking number)."""
    customer_address_name: str | None = None
    customer_address_street_line_one: str | None = None
    customer_address_street_line_two: str | None = None
    customer_address_city: str | None = None
    customer_address_state: str | None = None
    customer_address_postal_code: str | None = None
    customer_address_country_code: str | None = None
    customer_instructions: str | None = None
    line_items: list[RmaLineItemCreate]


RmaUpdate = RmaCreate
"""PUT /rmas sends the whole record again."""


class CallbackCreate(_Request):
    """Body record of POST /callbacks; ``token`` is sent back by AMS with every message."""

    url: str
    message_type: CallbackMessageType
    api_version: Literal["1.0", "2.0"] = "2.0"
    token: SecretStr | None = None

    def to_wire(self) -> dict[str, Any]:
        """Unwrap the token only here, at the wire."""
        body = self.model_dump(mode="json", exclude_none=True, exclude={"token"})
        if self.token is not None:
            body["token"] = self.token.get_secret_value()
        return body


# --- RMA responses --------------------------------------------------------------------------


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


class ReceivingDetail(_Response):
    """Units received into one inventory status, with the warehouse's note."""

    notes: str | None = None
    quantity: int = 0


class RmaLine(_Response):
    """A line of an RMA as AMS reports it, including what the warehouse received."""

    customer_sku_id: str | None = None
    customer_order_id: str | None = None
    quantity: int = 0
    quantity_received: int | None = None
    """None until receiving; 0, less, more than ``quantity`` are all possible."""
    return_reason_code: str | None = None
    return_notes: str | None = None
    return_inventory_status: str | None = None
    not_on_original_rma: bool = False
    receiving_details: dict[str, list[ReceivingDetail]] = Field(default_factory=dict)
    """Inspection result keyed by inventory status: use this, not ``return_inventory_status``."""

    @field_validator("receiving_details", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("not_on_original_rma", mode="before")
    @classmethod
    def _none_is_false(cls, value: Any) -> Any:
        return False if value is None else value

    def received_by_status(self) -> dict[str, int]:
        """Units per inventory status from ``receiving_details``."""
        return {k: sum(d.quantity for d in v) for k, v in self.receiving_details.items()}


class Rma(_Response):
    """An RMA as returned by GET /rmas (detail or summary) or inside an rmaEvent callback."""

    id: str
    customer_identifier: str | None = None
    """Null when the warehouse created the RMA itself."""
    status: str | None = None
    """Opaque: see ``RMA_STATUSES`` for the values sources name."""
    return_type: str | None = None
    manifest_id: str | None = None
    package_id: str | None = None
    return_label_url: str | None = None
    generate_return_label: bool | None = None
    version: int | str | None = None
    """An int in the schema, a string in v2.0 callbacks; digit strings become ints."""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    received_at: datetime | None = None
    processed_at: datetime | None = None
    delivered_at: datetime | None = None
    deleted_at: datetime | None = None
    customer_instructions: str | None = Field(
        None, validation_alias=AliasChoices("customer_instructions", "customer_instruction")
    )
    notes: str | None = None
    """Written by the warehouse."""
    customer_address_name: str | None = None
    customer_address_street_line_one: str | None = None
    customer_address_street_line_two: str | None = None
    customer_address_city: str | None = None
    customer_address_state: str | None = None
    customer_address_postal_code: str | None = None
    customer_address_country_code: str | None = None
    line_items: list[RmaLine] = Field(default_factory=list)

    @field_validator("line_items", mode="before")
    @classmethod
    def _lines_none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("version", mode="before")
    @classmethod
    def _numeric_version(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return value

    @field_validator(
        "created_at",
        "updated_at",
        "received_at",
        "processed_at",
        "delivered_at",
        "deleted_at",
        mode="before",
    )
    @classmethod
    def _blank_dates(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> Rma:
        """Read a detail or summary item (summary says ``return_status``/``return_package_id``)."""
        data = dict(item)
        if "status" not in data and "return_status" in data:
            data["status"] = data["return_status"]
        if "package_id" not in data and "return_package_id" in data:
            data["package_id"] = data["return_package_id"]
        return cls.model_validate(data)

    @property
    def is_deleted(self) -> bool:
        """Soft-deleted (its customer_identifier may be reused)."""
        return self.status == "deleted" or self.deleted_at is not None


# --- callbacks ------------------------------------------------------------------------------


class Callback(_Response):
    """A registered callback as GET /callbacks lists it."""

    id: str | None = None
    url: str
    message_type: str
    api_version: str | None = None
    token: SecretStr | None = None
