"""fit_address: AMS address limits, overflow rules, unicode, and what makes it unusable."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest

from core.mapping import MappingIssueCode, fit_address
from core.mapping.address import CITY, COUNTRY, LINE_ONE, LINE_TWO, NAME, POSTAL, STATE
from tests.unit.core.factories import address

LONG_STREET = "1234 North Martin Luther King Junior Boulevard"  # 46 chars
LONG_NAME = "Maximiliana Alexandrina Featherstonehaugh"  # 41 chars


@pytest.mark.parametrize(
    ("overrides", "expected", "adjusted"),
    [
        pytest.param({}, {}, [], id="plain-us-address"),
        pytest.param(
            {"line1": LONG_STREET},
            {LINE_ONE: "1234 North Martin Luther King Junior", LINE_TWO: "Boulevard"},
            [LINE_ONE],
            id="line1-overflow-moves-to-empty-line2",
        ),
        pytest.param(
            {"line1": LONG_STREET, "line2": "Apt 5"},
            {LINE_ONE: "1234 North Martin Luther King Junior", LINE_TWO: "Boulevard Apt 5"},
            [LINE_ONE],
            id="line1-overflow-goes-in-front-of-line2",
        ),
        pytest.param(
            {"line1": LONG_STREET, "line2": "Building 7, Floor 3, Suite 301, Door B"},
            {
                LINE_ONE: LONG_STREET[:40],
                LINE_TWO: "Building 7, Floor 3, Suite 301, Door B",
            },
            [LINE_ONE],
            id="overflow-does-not-fit-line2-truncated",
        ),
        pytest.param(
            {"line1": "X" * 45},
            {LINE_ONE: "X" * 40},
            [LINE_ONE],
            id="line1-single-word-truncated",
        ),
        pytest.param(
            {"line2": "Y" * 41},
            {LINE_TWO: "Y" * 40},
            [LINE_TWO],
            id="line2-too-long-truncated",
        ),
        pytest.param(
            {"line1": "", "line2": "PO Box 9"},
            {LINE_ONE: "PO Box 9"},
            [LINE_ONE],
            id="only-line2-moves-up",
        ),
        pytest.param(
            {"name": LONG_NAME},
            {NAME: LONG_NAME[:30].rstrip()},
            [NAME],
            id="name-truncated-to-30",
        ),
        pytest.param(
            {"city": "Rancho Santa Margarita Heights East"},
            {CITY: "Rancho Santa Margarita Heights"},
            [CITY],
            id="city-truncated-to-30",
        ),
        pytest.param(
            {"name": "Zoë Ångström-Łukasiewicz Nuñez"},
            {NAME: "Zoë Ångström-Łukasiewicz Nuñez"},
            [],
            id="unicode-name-30-chars-kept",
        ),
        pytest.param(
            {"name": unicodedata.normalize("NFD", "Zoë Ångström-Łukasiewicz Nuñez")},
            {NAME: "Zoë Ångström-Łukasiewicz Nuñez"},
            [],
            id="decomposed-unicode-normalised-before-counting",
        ),
        pytest.param(
            {"name": "  Ada   Lovelace "},
            {NAME: "Ada Lovelace"},
            [],
            id="whitespace-collapsed",
        ),
        pytest.param({"state": "california"}, {STATE: "CA"}, [STATE], id="state-name-to-code"),
        pytest.param({"state": "or"}, {STATE: "OR"}, [STATE], id="state-lower-case"),
        pytest.param({"country_code": "USA"}, {COUNTRY: "US"}, [COUNTRY], id="country-usa"),
        pytest.param(
            {"country_code": "United States"}, {COUNTRY: "US"}, [COUNTRY], id="country-spelled"
        ),
        pytest.param({"postal_code": "97201-1234"}, {POSTAL: "97201-1234"}, [], id="zip-plus-four"),
    ],
)
def test_fit_address(
    overrides: dict[str, Any], expected: dict[str, str], adjusted: list[str]
) -> None:
    fitted = fit_address(address(**overrides))

    assert fitted.problems == []
    for field, value in expected.items():
        assert fitted.fields[field] == value
    assert [a.field for a in fitted.adjustments] == adjusted
    for field, value in fitted.fields.items():
        limit = {NAME: 30, CITY: 30, STATE: 2, POSTAL: 20, COUNTRY: 2}.get(field, 40)
        assert 1 <= len(value) <= limit, field


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        pytest.param(
            {"country_code": "CA"},
            MappingIssueCode.NON_US_WITHOUT_LABEL,
            "shopper_address.country_code",
            id="canada",
        ),
        pytest.param(
            {"country_code": None},
            MappingIssueCode.INCOMPLETE_ADDRESS,
            "shopper_address.country_code",
            id="no-country",
        ),
        pytest.param(
            {"name": None},
            MappingIssueCode.INCOMPLETE_ADDRESS,
            "shopper_address.name",
            id="no-name",
        ),
        pytest.param(
            {"line1": " ", "line2": None},
            MappingIssueCode.INCOMPLETE_ADDRESS,
            "shopper_address.line1",
            id="no-street",
        ),
        pytest.param(
            {"city": ""}, MappingIssueCode.INCOMPLETE_ADDRESS, "shopper_address.city", id="no-city"
        ),
        pytest.param(
            {"state": None},
            MappingIssueCode.INCOMPLETE_ADDRESS,
            "shopper_address.state",
            id="no-state",
        ),
        pytest.param(
            {"state": "Calif."},
            MappingIssueCode.INVALID_ADDRESS,
            "shopper_address.state",
            id="unknown-state",
        ),
        pytest.param(
            {"postal_code": "9" * 21},
            MappingIssueCode.INVALID_ADDRESS,
            "shopper_address.postal_code",
            id="postal-over-20",
        ),
    ],
)
def test_fit_address_problems(
    overrides: dict[str, Any], code: MappingIssueCode, field: str
) -> None:
    fitted = fit_address(address(**overrides))

    assert [(p.code, p.field) for p in fitted.problems] == [(code, field)]


def test_fit_address_none_is_incomplete() -> None:
    fitted = fit_address(None)

    assert [p.code for p in fitted.problems] == [MappingIssueCode.INCOMPLETE_ADDRESS]
    assert fitted.fields == {}


def test_fit_address_messages_do_not_repeat_personal_data() -> None:
    fitted = fit_address(
        address(name=LONG_NAME, line1=LONG_STREET, city="Rancho Santa Margarita Heights East")
    )
    broken = fit_address(address(state="Atlantis", postal_code="123456789012345678901"))

    messages = [a.message for a in fitted.adjustments] + [p.message for p in broken.problems]
    assert messages
    for text in (LONG_NAME, "Martin Luther", "Rancho", "Atlantis", "123456789012345678901"):
        assert all(text not in m for m in messages)
