"""The chaos run's invariants over small hand-made sandbox exports: a consistent world passes
all six, and each invariant fails on the one inconsistency it exists to catch."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from deployments.chaos import invariants as inv
from deployments.chaos.plan import (
    CANCELLED_AFTER,
    CANCELLED_BEFORE,
    NO_RMA,
    ChaosPlan,
    make_plan,
)
from deployments.scenario import CANCEL_EVERY, WAREHOUSE_PLAN


def rma(rid: str, uuid: str, status: str = "received") -> dict[str, Any]:
    return {
        "id": uuid,
        "customer_identifier": f"RLY-{rid}",
        "status": status,
        "version": 3,
        "deleted_at": "2026-12-01T00:00:00Z" if status == "deleted" else None,
    }


def refund(rid: str, refund_id: str) -> dict[str, Any]:
    return {"refund_id": refund_id, "return_id": rid, "refund_amount": "10.00", "request": {}}


def ret(rid: str, status: str, refund_ids: list[str]) -> dict[str, Any]:
    return {"id": rid, "status": status, "rma": f"R{rid}", "refund_ids": refund_ids}


def world() -> dict[str, Any]:
    """Six returns, one per kind of ending, on which the three records agree."""
    ams = {
        "rmas": [
            rma("1", "u1"),
            rma("2", "u2"),
            rma("3", "u3", "deleted"),
            rma("5", "u5"),
            rma("6", "u6", "undeliverable"),
            rma("7", "u7", "inTransit"),
            {"id": "w1", "customer_identifier": "WAREHOUSE-OWN", "status": "open"},
        ]
    }
    returnly = {
        "returns": [
            ret("1", "refunded", ["f1"]),
            ret("2", "refunded", ["f2"]),
            ret("3", "canceled_by_merchant", []),
            ret("4", "authorized", []),
            ret("5", "authorized", []),
            ret("6", "authorized", []),
            ret("7", "canceled_by_merchant", []),
        ],
        "refunds": [refund("1", "f1"), refund("2", "f2")],
    }
    ledger = {
        "links": [
            {"return_id": "1", "stage": "refunded", "ams_uuid": "u1"},
            {"return_id": "2", "stage": "partially_refunded", "ams_uuid": "u2"},
            {"return_id": "3", "stage": "cancelled", "ams_uuid": "u3"},
            {"return_id": "4", "stage": "intake_exception", "ams_uuid": None},
            {"return_id": "5", "stage": "held", "ams_uuid": "u5"},
            {"return_id": "6", "stage": "undeliverable", "ams_uuid": "u6"},
            {"return_id": "7", "stage": "cancel_exception", "ams_uuid": "u7"},
        ],
        "refund_attempts": [
            {"return_id": "1", "key": "k1", "status": "succeeded", "refund_id": "f1"},
            {"return_id": "2", "key": "k2", "status": "already_refunded", "refund_id": "f2"},
        ],
        "exceptions": [
            {"return_id": "4", "reason": "mapping:missing_sku", "status": "open"},
            {"return_id": None, "reason": "undeliverable", "subject": "RLY-6", "status": "open"},
            {"return_id": "7", "reason": "cancel_after_shipped", "status": "open"},
        ],
    }
    drift = [
        {"return_id": "2", "customer_identifier": "RLY-2", "kind": "quantity_mismatch"},
        {"return_id": "6.0", "customer_identifier": "RLY-6", "kind": "status_mismatch"},
        {"return_id": "", "customer_identifier": "RLY-7", "kind": "status_mismatch"},
    ]
    return {"ams": ams, "returnly": returnly, "ledger": ledger, "drift": drift}


def plan() -> ChaosPlan:
    slots = {
        "1": "receiveFull",
        "2": "receivePartial",
        "3": CANCELLED_BEFORE,
        "4": NO_RMA,
        "5": "receiveFull:random",
        "6": "undeliverable",
        "7": CANCELLED_AFTER,
    }
    return ChaosPlan(authorized=sorted(slots), slots=slots)


def check(w: dict[str, Any]) -> dict[str, inv.InvariantResult]:
    results = inv.check_all(
        ams=w["ams"], returnly=w["returnly"], ledger=w["ledger"], drift=w["drift"], plan=plan()
    )
    return {r.key: r for r in results}


def violations(w: dict[str, Any]) -> dict[str, int]:
    return {k: r.violations for k, r in check(w).items()}


CLEAN = {
    "single_live_rma": 0,
    "refunded_at_most_once": 0,
    "authorized_has_rma_or_exception": 0,
    "received_is_settled": 0,
    "drift_as_planned": 0,
    "ledger_agrees": 0,
}


def test_check_all_consistent_world_has_no_violation() -> None:
    results = check(world())
    assert {k: r.violations for k, r in results.items()} == CLEAN
    assert [r.key for r in results.values()] == list(CLEAN)
    assert results["received_is_settled"].checked == 3  # 1, 2 and 5 are received
    assert results["authorized_has_rma_or_exception"].checked == 6  # 3 was cancelled


def test_single_live_rma_second_live_rma_is_a_violation() -> None:
    w = world()
    w["ams"]["rmas"].append(rma("1", "u1-dup", "open"))
    found = check(w)["single_live_rma"]
    assert found.violations == 1
    assert "return 1: 2 live RMAs (u1, u1-dup)" in found.examples[0]


def test_single_live_rma_soft_deleted_duplicate_is_fine() -> None:
    w = world()
    w["ams"]["rmas"].append(rma("1", "u1-old", "deleted"))
    assert violations(w) == CLEAN


def test_refunded_once_second_refund_is_a_violation() -> None:
    w = world()
    w["returnly"]["refunds"].append(refund("1", "f1-again"))
    got = violations(w)
    assert got["refunded_at_most_once"] == 1
    assert got["ledger_agrees"] == 1  # the second refund is not in the ledger either


def test_authorized_covered_missing_rma_without_exception_is_a_violation() -> None:
    w = world()
    w["ams"]["rmas"] = [r for r in w["ams"]["rmas"] if r["id"] != "u6"]
    w["ledger"]["exceptions"] = [
        e for e in w["ledger"]["exceptions"] if e["reason"] != "undeliverable"
    ]
    found = check(w)["authorized_has_rma_or_exception"]
    assert found.violations == 1
    assert found.examples == [
        "return 6: no live RMA, no open exception (ledger stage undeliverable)"
    ]


def test_authorized_covered_open_exception_covers_a_missing_rma() -> None:
    w = world()
    assert "4" not in {inv.return_id_of(r["customer_identifier"]) for r in w["ams"]["rmas"]}
    assert check(w)["authorized_has_rma_or_exception"].violations == 0


def test_authorized_covered_resolved_exception_does_not_count() -> None:
    w = world()
    w["ledger"]["exceptions"][0]["status"] = "resolved"
    assert violations(w)["authorized_has_rma_or_exception"] == 1


def test_received_settled_received_without_refund_hold_or_exception_is_a_violation() -> None:
    w = world()
    w["ledger"]["links"][4]["stage"] = "received"  # return 5: no longer held by policy
    found = check(w)["received_is_settled"]
    assert found.violations == 1
    assert "return 5: received, no refund" in found.examples[0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            lambda d: d.append({"return_id": "1", "kind": "sku_mismatch"}),
            "return 1 (receiveFull): unexpected sku_mismatch",
            id="unexpected-kind",
        ),
        pytest.param(
            lambda d: d.pop(0),
            "return 2 (receivePartial): expected quantity_mismatch, not reported",
            id="missing-expected-kind",
        ),
        pytest.param(
            lambda d: d.append({"return_id": "99", "kind": "orphan_rma"}),
            "return 99 (not in the plan): unexpected orphan_rma",
            id="return-outside-the-plan",
        ),
        pytest.param(
            lambda d: d.append({"return_id": None, "ams_id": "w1", "kind": "orphan_rma"}),
            "orphan_rma on w1",
            id="no-return-at-all",
        ),
    ],
)
def test_drift_as_planned_any_difference_is_a_violation(change: Any, expected: str) -> None:
    w = world()
    change(w["drift"])
    found = check(w)["drift_as_planned"]
    assert found.violations == 1
    assert found.examples == [expected]


def test_drift_as_planned_allowed_kind_may_be_absent_or_present() -> None:
    w = world()
    w["drift"].append({"return_id": "5", "kind": "quantity_mismatch"})  # randomized receipt
    w["drift"].append({"return_id": "4", "kind": "authorized_no_rma"})  # planted intake issue
    assert violations(w)["drift_as_planned"] == 0


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            lambda w: w["ledger"]["refund_attempts"].append(
                {"return_id": "5", "key": "k5", "status": "succeeded", "refund_id": "f5"}
            ),
            "return 5: ledger refund f5 (succeeded) not in Returnly",
            id="ledger-refund-returnly-never-made",
        ),
        pytest.param(
            lambda w: w["ledger"]["refund_attempts"].append(
                {"return_id": "5", "key": "k5", "status": "pending", "refund_id": None}
            ),
            "return 5: refund attempt k5 left pending",
            id="attempt-left-pending",
        ),
        pytest.param(
            lambda w: w["ledger"]["links"][0].update(ams_uuid="u-other"),
            "return 1: ledger links RMA u-other, AMS's live RMA is u1",
            id="link-names-another-rma",
        ),
        pytest.param(
            lambda w: w["ledger"]["links"][2].update(stage="rma_created"),
            "return 3: ledger stage rma_created, AMS has 0 live RMAs",
            id="link-claims-a-deleted-rma",
        ),
        pytest.param(
            lambda w: w["ams"]["rmas"].append(rma("4", "u4", "open")),
            "return 4: ledger stage intake_exception, AMS has 1 live RMA(s)",
            id="rma-behind-an-intake-exception",
        ),
        pytest.param(
            lambda w: w["ledger"]["links"].pop(0),
            "return 1: 1 live RMA(s), no ledger link",
            id="rma-without-link",
        ),
    ],
)
def test_ledger_agrees_each_disagreement_is_a_violation(change: Any, expected: str) -> None:
    w = copy.deepcopy(world())
    change(w)
    found = check(w)["ledger_agrees"]
    assert expected in found.examples
    assert found.violations >= 1


def test_ledger_agrees_refund_missing_from_the_ledger_is_a_violation() -> None:
    w = world()
    w["ledger"]["refund_attempts"][0]["status"] = "failed"  # the answer was lost, it was made
    found = check(w)["ledger_agrees"]
    assert found.examples == ["return 1: Returnly refund f1 not in ledger"]


def test_return_id_of_only_bridge_identifiers() -> None:
    assert inv.return_id_of("RLY-100016") == "100016"
    assert inv.return_id_of("RLY-H-abc") is None
    assert inv.return_id_of("WAREHOUSE-OWN") is None
    assert inv.return_id_of(None) is None


def test_make_plan_cancels_every_25th_and_cycles_the_warehouse_plan() -> None:
    ids = [str(100000 + n) for n in range(1, 301)]
    p = make_plan(reversed(ids))
    assert p.authorized == ids
    assert p.cancelled_before == ids[::CANCEL_EVERY]
    assert set(p.events) == set(ids) - set(p.cancelled_before)
    first = [i for i in ids if i not in p.cancelled_before][: len(WAREHOUSE_PLAN)]
    assert [p.events[i] for i in first] == WAREHOUSE_PLAN
    in_transit = [i for i in ids if p.events.get(i) == ("inTransit", False)]
    assert p.cancelled_after == in_transit[::2]
    assert make_plan(ids).slots == p.slots


def test_make_plan_mark_no_rma_stops_the_warehouse_for_those() -> None:
    p = make_plan(["1", "2", "3"])
    p.mark_no_rma(["2", "1"])  # "1" was cancelled before shipping: not shipped anyway
    assert p.slots["2"] == NO_RMA and "2" not in p.events
    assert p.slots["1"] == CANCELLED_BEFORE
    assert p.expected("2").allowed == {"authorized_no_rma"}
