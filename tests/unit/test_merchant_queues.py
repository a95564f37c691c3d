"""Which deployments a dedicated merchant gets a copy of, and the shared selector left behind."""

from __future__ import annotations

import pytest

from deployments.merchant_queues import covers_all, queue_name, shared_selector


@pytest.mark.parametrize(
    ("parameters", "covers"),
    [
        ({"merchant": "all"}, True),
        ({"merchant": "all,-acme"}, True),  # shared after an earlier --merchant-queue
        ({"merchant": "acme"}, False),  # a copy, or a merchant's own deployment
        ({"merchant": "acme,bolt"}, False),
        ({}, False),  # no merchant parameter: sweep-inbox, replay, backfill
        ({"merchant": None}, False),
    ],
)
def test_only_all_merchant_deployments_are_copied(
    parameters: dict[str, object], covers: bool
) -> None:
    assert covers_all(parameters) is covers


def test_the_shared_selector_leaves_every_dedicated_merchant_out_once() -> None:
    assert shared_selector(["bolt", "acme", "acme"]) == "all,-acme,-bolt"
    assert queue_name("acme") == "merchant-acme"
