"""The chaos run's fault mix, kill plan and report arithmetic (no processes started)."""

from __future__ import annotations

import random

import pytest

from deployments.chaos.faults import fault_config
from deployments.chaos.killer import kill_order
from deployments.chaos.options import ChaosOptions
from deployments.chaos.report import bridge_requests, milestones


def test_fault_config_splits_the_rate_and_sets_every_kind() -> None:
    ams = fault_config(0.2, seed=7, duplicates=3, side="ams")
    returnly = fault_config(0.2, seed=7, duplicates=3, side="returnly")
    for body in (ams, returnly):
        assert body["error_rate"] + body["rate_limit_rate"] + body["hang_rate"] == pytest.approx(
            0.15
        )
        assert body["commit_then_fail_rate"] == pytest.approx(0.2)
        assert body["hang_s"] > 5.0  # past the read timeout the run gives the bridge
        assert body["duplicate_count"] == 3 and body["reorder"] is True
        assert body["delivery_delay_ms_max"] > 0
    assert returnly["refund_idempotency"] == "none" and "path_contains" not in returnly
    assert ams["duplicate_identifiers"] == "accept" and ams["path_contains"] == "/rmas"
    assert ams["seed"] != returnly["seed"]


def test_fault_config_off_is_only_a_seed() -> None:
    assert fault_config(0.2, seed=3, duplicates=3, side="ams", on=False) == {"seed": 3}


def test_kill_order_workers_n_times_receiver_and_server_once() -> None:
    order = kill_order(3, random.Random(1))
    assert sorted(order) == sorted(
        ["process-worker"] * 3 + ["task-worker"] * 3 + ["receiver", "prefect-server"]
    )
    assert kill_order(3, random.Random(1)) == order  # seeded
    assert kill_order(0, random.Random(1)) == []


def test_options_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="fault-rate"):
        ChaosOptions(fault_rate=1.5)
    with pytest.raises(ValueError, match="returns"):
        ChaosOptions(returns=0)


def test_bridge_requests_leave_out_the_warehouse() -> None:
    summary = {
        "counts": [
            {"method": "GET", "path": "/m/api/v1/rmas", "status_code": 200, "count": 7},
            {"method": "POST", "path": "/m/api/v1/data_factory/rmaEvent", "count": 5},
        ]
    }
    assert bridge_requests(summary) == 7


def test_milestones_first_time_each_counter_peaked() -> None:
    timeline = [
        {"t": 0.0, "rmas_live": 0, "refunded": 0, "inbox": {"processed": 0}},
        {"t": 5.0, "rmas_live": 8, "refunded": 1, "inbox": {"processed": 10}},
        {"t": 10.0, "rmas_live": 8, "refunded": 4, "inbox": {"processed": 30}},
    ]
    got = milestones(timeline)
    assert got["rmas_live"] == {"max": 8, "reached_at_s": 5.0}
    assert got["refunded"] == {"max": 4, "reached_at_s": 10.0}
    assert got["inbox_processed"] == {"count": 30, "per_s": 3.0, "over_s": 10.0}
