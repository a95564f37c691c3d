"""Fit a Returnly shopper address to AMS's address fields (contracts §B.3).

Rules (limits are characters; unicode is kept, NFC-normalised, whitespace collapsed):

- name and city: at most 30, cut at 30 with an adjustment.
- street line one: at most 40. A longer line is split at the last word boundary within 40 and
  the overflow is put in front of line two when the result still fits 40; otherwise line one
  is cut at 40 (and line two too, if it is over 40), each with an adjustment.
- state: a USPS code; a full name ("California") becomes its code; anything else is invalid.
- postal code: at most 20; longer is invalid (a cut postal code would misroute the label).
- country: ``US`` (``USA``, ``United States``… become ``US``); anything else is not US.

Adjustment and issue messages never repeat address values (personal data), only lengths.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clients.returnly.models import ShopperAddress
from core.mapping.result import Adjustment, MappingIssue, MappingIssueCode
from core.mapping.text import clean, split_at_word, truncate
from core.mapping.us_states import US_COUNTRY_ALIASES, state_code

NAME_MAX = 30
CITY_MAX = 30
STREET_MAX = 40
POSTAL_MAX = 20

NAME = "customer_address_name"
LINE_ONE = "customer_address_street_line_one"
LINE_TWO = "customer_address_street_line_two"
CITY = "customer_address_city"
STATE = "customer_address_state"
POSTAL = "customer_address_postal_code"
COUNTRY = "customer_address_country_code"


@dataclass
class FittedAddress:
    """AMS address fields, what was changed, and what keeps it from being a US label address."""

    fields: dict[str, str] = field(default_factory=dict)
    adjustments: list[Adjustment] = field(default_factory=list)
    problems: list[MappingIssue] = field(default_factory=list)

    def adjust(self, ams_field: str, message: str) -> None:
        """Record a change made to fit AMS."""
        self.adjustments.append(Adjustment(field=ams_field, message=message))

    def problem(self, code: MappingIssueCode, message: str, source: str) -> None:
        """Record why the address cannot carry an AMS label."""
        self.problems.append(MappingIssue(code=code, message=message, field=source))


def _required(out: FittedAddress, value: str, source: str) -> bool:
    if value:
        return True
    out.problem(MappingIssueCode.INCOMPLETE_ADDRESS, f"{source} is missing", source)
    return False


def _cut(out: FittedAddress, value: str, ams_field: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    out.adjust(ams_field, f"cut from {len(value)} to {limit} characters")
    return truncate(value, limit)


def _streets(out: FittedAddress, one: str, two: str) -> None:
    if len(one) > STREET_MAX:
        split = split_at_word(one, STREET_MAX)
        moved = "" if split is None else f"{split[1]} {two}".strip()
        if split is not None and len(moved) <= STREET_MAX:
            out.adjust(
                LINE_ONE,
                f"{len(one)} characters: overflow moved to street line two at a word boundary",
            )
            one, two = split[0], moved
        else:
            one = _cut(out, one, LINE_ONE, STREET_MAX)
    out.fields[LINE_ONE] = one
    if two:
        out.fields[LINE_TWO] = _cut(out, two, LINE_TWO, STREET_MAX)


def _country(out: FittedAddress, raw: str) -> bool:
    """Normalise the country to ``US``; False (with a problem) when it is not the US."""
    if not _required(out, raw, "shopper_address.country_code"):
        return False
    upper = raw.upper()
    if upper not in US_COUNTRY_ALIASES:
        out.problem(
            MappingIssueCode.NON_US_WITHOUT_LABEL,
            f"country {truncate(upper, 40)!r} without a Returnly label: AMS labels are US only",
            "shopper_address.country_code",
        )
        return False
    if upper != "US":
        out.adjust(COUNTRY, "country spelled out, sent as US")
    out.fields[COUNTRY] = "US"
    return True


def fit_address(address: ShopperAddress | None) -> FittedAddress:
    """Fit the address; ``problems`` is empty only for a complete US address."""
    out = FittedAddress()
    if address is None:
        out.problem(
            MappingIssueCode.INCOMPLETE_ADDRESS,
            "the return has no shopper address",
            "shopper_address",
        )
        return out
    if not _country(out, clean(address.country_code)):
        return out
    name, city = clean(address.name), clean(address.city)
    if _required(out, name, "shopper_address.name"):
        out.fields[NAME] = _cut(out, name, NAME, NAME_MAX)
    one, two = clean(address.line1), clean(address.line2)
    if not one and two:
        out.adjust(LINE_ONE, "street line one empty: line two used as line one")
        one, two = two, ""
    if _required(out, one, "shopper_address.line1"):
        _streets(out, one, two)
    if _required(out, city, "shopper_address.city"):
        out.fields[CITY] = _cut(out, city, CITY, CITY_MAX)
    _state(out, clean(address.state))
    _postal(out, clean(address.postal_code))
    return out


def _state(out: FittedAddress, raw: str) -> None:
    if not _required(out, raw, "shopper_address.state"):
        return
    code = state_code(raw)
    if code is None:
        out.problem(
            MappingIssueCode.INVALID_ADDRESS,
            f"state ({len(raw)} characters) is not a US state code or name",
            "shopper_address.state",
        )
        return
    if code != raw:
        out.adjust(STATE, "state written as a name or in lower case, sent as its USPS code")
    out.fields[STATE] = code


def _postal(out: FittedAddress, raw: str) -> None:
    if not _required(out, raw, "shopper_address.postal_code"):
        return
    if len(raw) > POSTAL_MAX:
        out.problem(
            MappingIssueCode.INVALID_ADDRESS,
            f"postal code has {len(raw)} characters (AMS allows {POSTAL_MAX})",
            "shopper_address.postal_code",
        )
        return
    out.fields[POSTAL] = raw
