"""AMS field rules (contracts §B.3, §B.6), checked before a request leaves the bridge.

AMS rejects a bad record per record inside an HTTP 200; catching the documented limits here
turns a silent per-record failure into an exception that names the field, e.g.
``line_items[2].return_notes: length 57 > 50``. Messages never echo field values that could
carry personal data beyond short codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from clients.ams.errors import AmsError
from clients.errors import RequestRejectedError

if TYPE_CHECKING:
    from clients.ams.models import CallbackCreate, RmaCreate

MAX_RECORDS_PER_BATCH = 30
"""Every AMS write takes at most 30 records (spec ``maxItems: 30``)."""
MAX_IDS_PER_QUERY = 30
"""GET /rmas takes 1..30 ids per request."""
MAX_PAGE_LIMIT = 100
"""GET /rmas ``limit`` is 1..100."""

RETURN_TYPES = frozenset(
    {"returned_to_sender", "rma_submitted_by_customer", "rma_created_by_distribution_center"}
)
RETURN_REASON_CODES = frozenset({"tooBig", "tooSmall", "damaged", "wrongItem", "other"})
"""The five spec codes; MD's other codes are never sent (§B.9)."""
RETURN_INVENTORY_STATUSES = frozenset(
    {
        "available",
        "qc",
        "damaged",
        "quarantine",
        "quality-control",
        "refurbishing",
        "under-investigation",
        "disposed",
    }
)
"""Spec set plus the hyphenated set the DataFactory and MD use (§B.9): both are accepted."""
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

# (field, min length, max length) for optional top-level strings; checked only when sent.
_RMA_LENGTHS: tuple[tuple[str, int, int], ...] = (
    ("manifest_id", 1, 20),
    ("package_id", 5, 100),
    ("customer_address_name", 1, 30),
    ("customer_address_street_line_one", 1, 40),
    ("customer_address_street_line_two", 1, 40),
    ("customer_address_city", 1, 30),
    ("customer_address_state", 2, 2),
    ("customer_address_postal_code", 1, 20),
    ("customer_address_country_code", 2, 2),
    ("customer_instructions", 0, 250),
)
_LINE_LENGTHS: tuple[tuple[str, int, int], ...] = (
    ("customer_sku_id", 2, 100),
    ("customer_order_id", 2, 100),
    ("return_notes", 2, 50),
)
_LABEL_ADDRESS_FIELDS = (
    "customer_address_name",
    "customer_address_street_line_one",
    "customer_address_city",
    "customer_address_state",
    "customer_address_postal_code",
    "customer_address_country_code",
)
"""Required when AMS generates the label (the carrier needs a full sender address)."""

Problem = tuple[str, str]


class AmsRequestRejectedError(AmsError, RequestRejectedError):
    """An AMS request broke a documented rule and was not sent.

    ``problems`` lists every (field, problem) found, the first one is in the message;
    ``customer_identifier`` names the record when known.
    """

    def __init__(
        self,
        field: str,
        problem: str,
        *,
        problems: Sequence[Problem] = (),
        customer_identifier: str | None = None,
    ) -> None:
        self.problems: list[Problem] = list(problems) or [(field, problem)]
        self.customer_identifier = customer_identifier
        RequestRejectedError.__init__(self, field, problem)


def _length(field: str, value: str | None, lo: int, hi: int) -> Problem | None:
    if value is None:
        return None
    n = len(value)
    if n < lo:
        return field, f"length {n} < {lo}"
    if n > hi:
        return field, f"length {n} > {hi}"
    return None


def rma_problems(rma: RmaCreate) -> list[Problem]:
    """Every §B.3 rule the record breaks, as (field, problem) pairs; empty when it is valid."""
    out: list[Problem] = []

    def add(p: Problem | None) -> None:
        if p is not None:
            out.append(p)

    add(_length("customer_identifier", rma.customer_identifier, 5, 250))
    if rma.return_type not in RETURN_TYPES:
        out.append(("return_type", f"{rma.return_type!r} is not a spec return_type"))
    for name, lo, hi in _RMA_LENGTHS:
        add(_length(name, getattr(rma, name), lo, hi))
    country = rma.customer_address_country_code
    if country is not None and country != "US":
        out.append(("customer_address_country_code", f"{country!r} not supported (US only)"))
    if not rma.generate_return_label and rma.package_id is None:
        out.append(("package_id", "required when generate_return_label is false"))
    if rma.generate_return_label:
        for name in _LABEL_ADDRESS_FIELDS:
            if getattr(rma, name) is None:
                out.append((name, "required when generate_return_label is true"))
    if not rma.line_items:
        out.append(("line_items", "at least 1 line item required"))
    for i, line in enumerate(rma.line_items):
        prefix = f"line_items[{i}]"
        for name, lo, hi in _LINE_LENGTHS:
            add(_length(f"{prefix}.{name}", getattr(line, name), lo, hi))
        if line.quantity < 1:
            out.append((f"{prefix}.quantity", f"{line.quantity} < 1"))
        if line.return_reason_code not in RETURN_REASON_CODES:
            out.append(
                (
                    f"{prefix}.return_reason_code",
                    f"{line.return_reason_code!r} not one of {sorted(RETURN_REASON_CODES)}",
                )
            )
        if line.return_inventory_status not in RETURN_INVENTORY_STATUSES:
            out.append(
                (
                    f"{prefix}.return_inventory_status",
                    f"{line.return_inventory_status!r} is not a known inventory status",
                )
            )
    return out


def check_rma(rma: RmaCreate) -> None:
    """Raise :class:`AmsRequestRejectedError` naming the first broken rule (all in ``problems``)."""
    problems = rma_problems(rma)
    if problems:
        field, problem = problems[0]
        raise AmsRequestRejectedError(
            field, problem, problems=problems, customer_identifier=rma.customer_identifier
        )


def check_rmas(rmas: Sequence[RmaCreate]) -> None:
    """Check every record of a create/update call; field names get an ``rmas[i].`` prefix."""
    if not rmas:
        raise AmsRequestRejectedError("rmas", "at least 1 record required")
    seen: dict[str, int] = {}
    for i, rma in enumerate(rmas):
        try:
            check_rma(rma)
        except AmsRequestRejectedError as exc:
            problems = [(f"rmas[{i}].{f}", p) for f, p in exc.problems]
            raise AmsRequestRejectedError(
                problems[0][0],
                problems[0][1],
                problems=problems,
                customer_identifier=rma.customer_identifier,
            ) from None
        first = seen.setdefault(rma.customer_identifier, i)
        if first != i:
            raise AmsRequestRejectedError(
                f"rmas[{i}].customer_identifier",
                f"duplicate of rmas[{first}] in the same call",
                customer_identifier=rma.customer_identifier,
            )


def check_batch(records: Sequence[Any], *, field: str = "records") -> None:
    """One AMS write carries 1..30 records."""
    if not records:
        raise AmsRequestRejectedError(field, "at least 1 record required")
    if len(records) > MAX_RECORDS_PER_BATCH:
        raise AmsRequestRejectedError(field, f"{len(records)} records > {MAX_RECORDS_PER_BATCH}")


def check_callback(callback: CallbackCreate, index: int = 0) -> None:
    """URL ≤ 250 chars and https; plain http only for loopback (the local sandbox)."""
    prefix = f"callbacks[{index}]"
    problem = _length(f"{prefix}.url", callback.url, 1, 250)
    if problem:
        raise AmsRequestRejectedError(*problem)
    parts = urlsplit(callback.url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return
    raise AmsRequestRejectedError(f"{prefix}.url", "must be https (http only for loopback)")
