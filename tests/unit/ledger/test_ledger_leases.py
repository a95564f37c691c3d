"""Leases: taken atomically by one owner at a time, renewed only while held, free once run out.

Runs on a SQLite file and on Postgres (when ``BRIDGE_TEST_POSTGRES_URL`` is set), with
threads and with separate processes racing for the same keys.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ledger import HeldLeases, Ledger, new_owner, open_ledger
from tests.support.processes import run_released_together
from tests.unit.ledger.test_ledger_concurrency import THREADS, Race


def test_a_lease_has_one_owner_until_released(ledger: Ledger) -> None:
    fresh = {"refund:1": False, "refund:2": False}
    assert ledger.take_leases("m", ["refund:1", "refund:2"], "a") == fresh
    assert ledger.take_leases("m", ["refund:1", "refund:3"], "b") == {"refund:3": False}
    assert ledger.lease_holder("m", "refund:1") is not None
    assert ledger.take_leases("m", ["refund:1"], "a") == {"refund:1": False}  # the owner again
    assert ledger.release_leases("m", ["refund:1", "refund:3"], "a") == 1  # not b's
    assert ledger.take_leases("m", ["refund:1"], "b") == {"refund:1": False}


def test_a_lease_given_back_in_doubt_is_stale_for_the_next_taker(ledger: Ledger) -> None:
    ledger.take_leases("m", ["rma:1", "rma:2"], "a")
    assert ledger.release_leases("m", ["rma:1", "rma:2"], "a", in_doubt=["rma:2"]) == 2
    assert ledger.lease_holder("m", "rma:2") is None
    assert ledger.take_leases("m", ["rma:1", "rma:2"], "b") == {"rma:1": False, "rma:2": True}


def test_leases_are_per_merchant(ledger: Ledger) -> None:
    assert ledger.take_leases("m1", ["refund:1"], "a") == {"refund:1": False}
    assert ledger.take_leases("m2", ["refund:1"], "b") == {"refund:1": False}


def test_an_expired_lease_can_be_taken_and_its_old_owner_cannot_renew(ledger: Ledger) -> None:
    assert ledger.take_leases("m", ["refund:1"], "crashed", ttl_s=0.05) == {"refund:1": False}
    assert ledger.take_leases("m", ["refund:1"], "b") == {}
    time.sleep(0.1)
    assert ledger.lease_holder("m", "refund:1") is None
    assert ledger.take_leases("m", ["refund:1"], "b") == {"refund:1": True}  # stale
    assert not ledger.renew_lease("m", "refund:1", "crashed")
    assert ledger.renew_lease("m", "refund:1", "b")


def test_a_lease_that_ran_out_is_still_ours_until_someone_takes_it(ledger: Ledger) -> None:
    ledger.take_leases("m", ["refund:1"], "a", ttl_s=0.05)
    time.sleep(0.1)
    assert ledger.renew_lease("m", "refund:1", "a")
    assert ledger.take_leases("m", ["refund:1"], "b") == {}


def test_lease_ttl_comes_from_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BRIDGE_LEDGER_LEASE_TTL_S", "0.05")
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}") as led:
        assert led.lease_ttl_s == 0.05
        led.take_leases("m", ["refund:1"], "a")
        time.sleep(0.1)
        assert led.take_leases("m", ["refund:1"], "b") == {"refund:1": True}


def test_thread_race_gives_each_lease_to_exactly_one(ledger: Ledger, race: Race) -> None:
    keys = [f"refund:{i}" for i in range(10)]
    won = race(THREADS, lambda i: ledger.take_leases("m", keys, f"owner-{i}"))
    for key in keys:
        assert sum(key in got for got in won) == 1


def test_owners_are_unique() -> None:
    assert len({new_owner() for _ in range(100)}) == 100


_CHILD = """
import json, sys
from ledger import open_ledger

url, owner = sys.argv[1], sys.argv[2]
ledger = open_ledger(url)
print("ready", flush=True)
sys.stdin.readline()
won = set()
for j in range(40):
    won |= set(ledger.take_leases("m", [f"refund:{j}", f"refund:{j + 1}"], owner))
ledger.close()
print(json.dumps(sorted(won)), flush=True)
"""


def test_process_race_gives_each_lease_to_exactly_one(ledger_url: str, tmp_path: Path) -> None:
    """Three OS processes (not threads) racing on one SQLite file or one Postgres."""
    lines = run_released_together(_CHILD, [[ledger_url, f"proc-{p}"] for p in range(3)], tmp_path)
    everything = [key for line in lines for key in json.loads(line)]  # a key won twice shows twice
    assert sorted(everything) == sorted(f"refund:{j}" for j in range(41))


class _Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_held_leases_renew_in_one_write_once_a_quarter_of_their_time_has_passed(
    ledger: Ledger,
) -> None:
    clock = _Clock()
    held = HeldLeases(ledger, "m", "a", ttl_s=100.0, clock=clock)
    assert held.take(["refund:1", "refund:2", "refund:3"]) == dict.fromkeys(
        ["refund:1", "refund:2", "refund:3"], False
    )
    for key in ("refund:1", "refund:2", "refund:3"):
        clock.now += 8.0  # 24 s in all: under a quarter of 100 s
        assert held.hold([key]) == {key}
    assert held.renewals == 0
    clock.now += 1.0  # 25 s
    assert held.hold(["refund:3"]) == {"refund:3"}
    assert held.renewals == 1
    assert held.hold(["refund:1", "refund:2"]) == {"refund:1", "refund:2"}  # fresh again
    assert held.renewals == 1
    assert held.hold(["refund:9"]) == set()  # never taken
    assert held.release() == 3
    assert ledger.lease_holder("m", "refund:1") is None


def test_held_leases_drop_a_key_another_run_took_after_it_ran_out(ledger: Ledger) -> None:
    held = HeldLeases(ledger, "m", "a", ttl_s=0.2)
    held.take(["refund:1", "refund:2"])
    time.sleep(0.25)  # both ran out; b takes one of them
    assert ledger.take_leases("m", ["refund:2"], "b") == {"refund:2": True}
    assert held.hold(["refund:1", "refund:2"]) == {"refund:1"}
    assert held.held == {"refund:1"}
    assert held.release() == 1
    assert ledger.lease_holder("m", "refund:2") is not None  # b's, untouched


def test_held_leases_a_live_lease_is_never_taken_while_hold_skips_renewal(
    ledger: Ledger,
) -> None:
    """The skip is safe because the lease cannot have run out: a rival gets nothing."""
    held = HeldLeases(ledger, "m", "a", ttl_s=2.0)
    held.take(["refund:1"])
    assert ledger.take_leases("m", ["refund:1"], "b") == {}
    assert held.hold(["refund:1"]) == {"refund:1"} and held.renewals == 0
