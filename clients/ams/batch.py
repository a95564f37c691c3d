"""The records envelope AMS answers every write with (contracts §B.2), parsed strictly enough
that a 200 is never read as "all done": each record succeeds or fails on its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from clients.ams.errors import AmsError

__all__ = [
    "AmsBatchError",
    "BatchRecordResult",
    "BatchResult",
    "FieldMessage",
    "parse_messages",
]


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


# --- batch write results --------------------------------------------------------------------


class FieldMessage(_Response):
    """One message of a per-record result; ``field`` is None when AMS gave plain text."""

    field: str | None = None
    text: str


def parse_messages(raw: Any) -> list[FieldMessage]:
    """Read all three shapes: ``[{field_name, errors}]``, ``[{field: [..]}]``, ``[".."]``."""
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    out: list[FieldMessage] = []
    for item in items:
        if isinstance(item, FieldMessage):
            out.append(item)
        elif isinstance(item, str):
            out.append(FieldMessage(text=item))
        elif isinstance(item, dict) and "field_name" in item:
            errs = item.get("errors")
            texts = errs if isinstance(errs, list) else [errs]
            field = None if item["field_name"] is None else str(item["field_name"])
            out.extend(FieldMessage(field=field, text=str(t)) for t in texts if t is not None)
        elif isinstance(item, dict):
            for key, value in item.items():
                texts = value if isinstance(value, list) else [value]
                out.extend(FieldMessage(field=str(key), text=str(t)) for t in texts)
        else:
            out.append(FieldMessage(text=str(item)))
    return out


class BatchRecordResult(_Response):
    """The outcome of one record of a batch write (HTTP 200 does not mean it worked)."""

    customer_identifier: str | None = None
    status: str = ""
    """``success``/``failure`` in the schema, ``Success``/``Failure`` in examples."""
    url: str | None = Field(None, validation_alias=AliasChoices("url", "uri"))
    messages: list[FieldMessage] = Field(default_factory=list)
    additional_data: dict[str, Any] | None = None

    @field_validator("messages", mode="before")
    @classmethod
    def _parse_messages(cls, value: Any) -> list[FieldMessage]:
        return parse_messages(value)

    @property
    def ok(self) -> bool:
        """True when AMS accepted this record (compared case-insensitively)."""
        return self.status.strip().lower() == "success"

    @property
    def is_duplicate_identifier(self) -> bool:
        """AMS refused the record because the customer_identifier is already in use."""
        return any(
            m.field == "customer_identifier"
            and ("already taken" in m.text.lower() or "unique" in m.text.lower())
            for m in self.messages
        )

    @property
    def return_label_url(self) -> str | None:
        """Label link when AMS generated a label."""
        value = (self.additional_data or {}).get("return_label_url")
        return None if value is None else str(value)

    @property
    def return_tracking_number(self) -> str | None:
        """Tracking number of the generated label."""
        value = (self.additional_data or {}).get("return_tracking_number")
        return None if value is None else str(value)

    def summary(self) -> str:
        """One line for logs and exceptions: identifier and messages."""
        texts = "; ".join(f"{m.field}: {m.text}" if m.field else m.text for m in self.messages)
        return f"{self.customer_identifier}: {self.status} ({texts or 'no message'})"


class AmsBatchError(AmsError):
    """Some records of a batch write failed; ``failed`` holds their results."""

    def __init__(self, failed: list[BatchRecordResult]) -> None:
        self.failed = failed
        shown = " | ".join(r.summary() for r in failed[:5])
        more = f" (+{len(failed) - 5} more)" if len(failed) > 5 else ""
        super().__init__(f"{len(failed)} AMS record(s) failed: {shown}{more}")


class BatchResult(_Response):
    """The records envelope AMS answers every write with (§B.2)."""

    records_submitted: int = 0
    records_processed: int = 0
    records_failed: int = 0
    records_succeeded: int = 0
    results: list[BatchRecordResult] = Field(default_factory=list)

    @property
    def succeeded(self) -> list[BatchRecordResult]:
        """Results AMS accepted."""
        return [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[BatchRecordResult]:
        """Results AMS refused; never read a 200 as 'all done'."""
        return [r for r in self.results if not r.ok]

    def by_identifier(self) -> dict[str, BatchRecordResult]:
        """Results keyed by customer_identifier (the last one wins on repeats)."""
        return {r.customer_identifier: r for r in self.results if r.customer_identifier}

    def raise_for_failures(self) -> None:
        """Raise :class:`AmsBatchError` if any record failed."""
        failed = self.failed
        if failed:
            raise AmsBatchError(failed)

    @classmethod
    def merge(cls, parts: Iterable[BatchResult]) -> BatchResult:
        """Combine the results of several chunked requests into one."""
        merged = cls()
        for part in parts:
            merged.records_submitted += part.records_submitted
            merged.records_processed += part.records_processed
            merged.records_failed += part.records_failed
            merged.records_succeeded += part.records_succeeded
            merged.results.extend(part.results)
        return merged
