"""The AMS sandbox behaving like the worst real API: answers lost after the write committed,
duplicate identifiers accepted, and the request log and raw export that show what happened."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import httpx
import pytest

from clients.ams import AmsClient, AmsConnectionError, AmsServerError, AmsTimeoutError
from core.settings import SANDBOX_ACCOUNT, SANDBOX_AMS_TOKEN
from tests.integration.ams.factories import rma
from tests.integration.ams.support import API, AUTH, api_requests, set_faults

pytestmark = pytest.mark.integration


def _injected(admin: httpx.Client) -> dict[str, int]:
    injected: dict[str, int] = admin.get("/_admin/faults").json()["injected"]
    return injected


def _cids(admin: httpx.Client, cid: str) -> list[dict[str, Any]]:
    reply = admin.get(f"{API}/rmas", params={"cid": cid}, headers=AUTH)
    reply.raise_for_status()
    data: list[dict[str, Any]] = reply.json()["data"]
    return data


def _wait_hang_over(admin: httpx.Client, n: int = 1) -> None:
    """Until the sandbox answered ``n`` hung requests (so none lands in the next test's log)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if sum(str(r.get("fault", "")).endswith("hang") for r in api_requests(admin)) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("the hang fault never answered")


def _body(cid: str) -> list[dict[str, Any]]:
    return [rma(cid).to_wire()]


# --- commit then fail ----------------------------------------------------------------------


def test_drop_after_commit_raises_transport_error_and_rma_exists(
    ams: AmsClient, admin: httpx.Client
) -> None:
    set_faults(admin, commit_then_fail_rate=1.0, commit_then_fail_modes=["drop"])

    with pytest.raises(AmsConnectionError):
        ams.create_rmas([rma("RLY-7001")])

    (created,) = _cids(admin, "RLY-7001")
    assert created["status"] == "open"
    assert _injected(admin) == {"commit_then_fail": 1, "commit_then_fail:drop": 1}
    (post,) = [r for r in api_requests(admin) if r["method"] == "POST"]
    assert post["fault"] == "commit_then_fail:drop"


def test_drop_is_a_transport_error_for_a_plain_httpx_client(
    ams_server: Any, admin: httpx.Client
) -> None:
    set_faults(admin, commit_then_fail_rate=1.0, commit_then_fail_modes=["drop"])

    with httpx.Client(base_url=ams_server.url, timeout=5) as plain:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            plain.post(f"{API}/rmas", json=_body("RLY-7002"), headers=AUTH)
        # The next request on a fresh connection works (the fault hit one answer only).
        again = plain.get(f"{API}/rmas", params={"cid": "RLY-7002"}, headers=AUTH)
        assert len(again.json()["data"]) == 1


def test_500_after_commit_leaves_the_write_applied(admin: httpx.Client) -> None:
    set_faults(admin, commit_then_fail_rate=1.0, commit_then_fail_modes=["500"])

    reply = admin.post(f"{API}/rmas", json=_body("RLY-7003"), headers=AUTH)

    assert reply.status_code == 500
    assert "message" in reply.json()
    assert len(_cids(admin, "RLY-7003")) == 1
    assert _injected(admin)["commit_then_fail:500"] == 1


def test_500_after_commit_on_update_and_delete(ams: AmsClient, admin: httpx.Client) -> None:
    ams.create_rmas([rma("RLY-7004")]).raise_for_failures()
    set_faults(admin, commit_then_fail_rate=1.0, commit_then_fail_modes=["500"])

    put = admin.put(f"{API}/rmas", json=_body("RLY-7004"), headers=AUTH)
    assert put.status_code == 500
    assert _cids(admin, "RLY-7004")[0]["version"] == 2

    delete = admin.request(
        "DELETE", f"{API}/rmas", json=[{"customer_identifier": "RLY-7004"}], headers=AUTH
    )
    assert delete.status_code == 500
    assert _cids(admin, "RLY-7004")[0]["status"] == "deleted"
    assert _injected(admin)["commit_then_fail"] == 2


def test_500_after_commit_on_callbacks(admin: httpx.Client) -> None:
    set_faults(admin, commit_then_fail_rate=1.0, commit_then_fail_modes=["500"])
    body = [{"url": "https://hooks.example.com/rma", "message_type": "rmaEvent"}]

    assert admin.post(f"{API}/callbacks", json=body, headers=AUTH).status_code == 500

    (cb,) = admin.get(f"{API}/callbacks", headers=AUTH).json()
    assert cb["url"] == "https://hooks.example.com/rma"
    gone = admin.request("DELETE", f"{API}/callbacks", json=[cb["id"]], headers=AUTH)
    assert gone.status_code == 500
    assert admin.get(f"{API}/callbacks", headers=AUTH).json() == []


def test_hang_after_commit_times_the_client_out(ams_server: Any, admin: httpx.Client) -> None:
    set_faults(admin, commit_then_fail_rate=1.0, commit_then_fail_modes=["hang"], hang_s=0.6)

    with (
        httpx.Client(base_url=ams_server.url, timeout=0.2) as impatient,
        pytest.raises(httpx.ReadTimeout),
    ):
        impatient.post(f"{API}/rmas", json=_body("RLY-7005"), headers=AUTH)
    assert len(_cids(admin, "RLY-7005")) == 1
    with httpx.Client(base_url=ams_server.url, timeout=5) as patient:
        reply = patient.post(f"{API}/rmas", json=_body("RLY-7006"), headers=AUTH)
    assert reply.status_code == 504
    assert len(_cids(admin, "RLY-7006")) == 1
    _wait_hang_over(admin, 2)


def test_hang_after_commit_is_a_client_timeout(ams_server: Any, admin: httpx.Client) -> None:
    set_faults(admin, commit_then_fail_rate=1.0, commit_then_fail_modes=["hang"], hang_s=0.6)

    with (
        AmsClient(
            base_url=ams_server.url,
            account=SANDBOX_ACCOUNT,
            api_token=SANDBOX_AMS_TOKEN,
            timeout=0.2,
        ) as client,
        pytest.raises(AmsTimeoutError),
    ):
        client.create_rmas([rma("RLY-7007")])
    assert len(_cids(admin, "RLY-7007")) == 1
    _wait_hang_over(admin)


def test_commit_then_fail_only_on_write_routes(ams: AmsClient, admin: httpx.Client) -> None:
    ams.create_rmas([rma("RLY-7008")]).raise_for_failures()
    set_faults(admin, commit_then_fail_rate=1.0, commit_then_fail_modes=["500"])

    assert len(list(ams.iter_rmas())) == 1
    assert ams.list_callbacks() == []
    assert _injected(admin) == {}


def test_commit_then_fail_narrowed_by_path_contains(admin: httpx.Client) -> None:
    set_faults(
        admin,
        commit_then_fail_rate=1.0,
        commit_then_fail_modes=["500"],
        path_contains="/callbacks",
    )

    assert admin.post(f"{API}/rmas", json=_body("RLY-7009"), headers=AUTH).status_code == 200
    body = [{"url": "https://hooks.example.com/x", "message_type": "rmaEvent"}]
    assert admin.post(f"{API}/callbacks", json=body, headers=AUTH).status_code == 500


def test_commit_then_fail_rate_and_modes_reproducible_by_seed(admin: httpx.Client) -> None:
    def run() -> tuple[list[int], dict[str, int]]:
        admin.post("/_admin/reset").raise_for_status()
        set_faults(admin, seed=5, commit_then_fail_rate=0.5, commit_then_fail_modes=["500"])
        statuses = [
            admin.post(f"{API}/rmas", json=_body(f"RLY-71{i:02d}"), headers=AUTH).status_code
            for i in range(12)
        ]
        return statuses, _injected(admin)

    first, again = run(), run()

    assert first == again
    assert set(first[0]) == {200, 500}
    assert first[1]["commit_then_fail"] == first[0].count(500)
    # Every answer lost or not, each write went through.
    assert len(admin.get(f"{API}/rmas", params={"limit": 100}, headers=AUTH).json()["data"]) == 12


def test_modes_are_picked_per_fault(admin: httpx.Client) -> None:
    set_faults(admin, seed=2, commit_then_fail_rate=1.0, commit_then_fail_modes=["500", "drop"])

    for i in range(10):
        with contextlib.suppress(httpx.TransportError):
            admin.post(f"{API}/rmas", json=_body(f"RLY-72{i:02d}"), headers=AUTH)

    injected = _injected(admin)
    assert injected["commit_then_fail"] == 10
    assert injected["commit_then_fail:500"] + injected["commit_then_fail:drop"] == 10
    assert injected["commit_then_fail:500"] > 0 and injected["commit_then_fail:drop"] > 0


def test_before_route_faults_unchanged_with_commit_then_fail(admin: httpx.Client) -> None:
    set_faults(admin, fail_first_n=1, commit_then_fail_rate=1.0, commit_then_fail_modes=["500"])

    first = admin.post(f"{API}/rmas", json=_body("RLY-7301"), headers=AUTH)
    assert first.status_code == 503
    assert _cids(admin, "RLY-7301") == [], "a before-the-route fault writes nothing"
    assert admin.post(f"{API}/rmas", json=_body("RLY-7301"), headers=AUTH).status_code == 500
    assert len(_cids(admin, "RLY-7301")) == 1
    assert _injected(admin) == {"error": 1, "commit_then_fail": 1, "commit_then_fail:500": 1}


def test_bad_commit_then_fail_mode_is_refused(admin: httpx.Client) -> None:
    for bad in ({"commit_then_fail_modes": ["boom"]}, {"commit_then_fail_modes": []}, {"x": 1}):
        assert admin.put("/_admin/faults", json=bad).status_code in (400, 422), bad


# --- duplicate identifiers -----------------------------------------------------------------


def test_duplicate_identifier_refused_by_default(ams: AmsClient) -> None:
    ams.create_rmas([rma("RLY-7401")]).raise_for_failures()
    (result,) = ams.create_rmas([rma("RLY-7401")]).results
    assert result.is_duplicate_identifier


def test_duplicate_identifiers_accept_leaves_two_live_rmas(
    ams: AmsClient, admin: httpx.Client
) -> None:
    set_faults(admin, duplicate_identifiers="accept")

    ams.create_rmas([rma("RLY-7402")]).raise_for_failures()
    ams.create_rmas([rma("RLY-7402")]).raise_for_failures()

    both = _cids(admin, "RLY-7402")
    assert len(both) == 2
    assert len({r["id"] for r in both}) == 2
    assert {r["status"] for r in both} == {"open"}
    assert _injected(admin) == {"duplicate_identifier": 1}

    # Deleting one leaves the other live (and deletable in turn).
    ams.delete_rmas(["RLY-7402"]).raise_for_failures()
    assert sorted(r["status"] for r in _cids(admin, "RLY-7402")) == ["deleted", "open"]
    ams.delete_rmas(["RLY-7402"]).raise_for_failures()
    assert {r["status"] for r in _cids(admin, "RLY-7402")} == {"deleted"}


# --- request log and export ----------------------------------------------------------------


def test_request_log_pages_with_since(ams: AmsClient, admin: httpx.Client) -> None:
    for i in range(5):
        ams.create_rmas([rma(f"RLY-75{i:02d}")]).raise_for_failures()

    bare = admin.get("/_admin/requests").json()
    assert isinstance(bare, list) and len(bare) == 5

    page = admin.get("/_admin/requests", params={"since": 0, "limit": 2}).json()
    assert page["next"] == 2 and len(page["requests"]) == 2
    rest = admin.get("/_admin/requests", params={"since": page["next"]}).json()
    assert rest["next"] == 5 and len(rest["requests"]) == 3
    assert page["requests"] + rest["requests"] == bare
    assert admin.get("/_admin/requests", params={"since": 5}).json() == {"next": 5, "requests": []}
    assert all("authorization" not in str(r).lower() for r in bare)


def test_request_summary_counts_by_template(ams: AmsClient, admin: httpx.Client) -> None:
    ams.create_rmas([rma("RLY-7601"), rma("RLY-7602")]).raise_for_failures()
    set_faults(admin, fail_first_n=1)
    admin.get(f"{API}/rmas", headers=AUTH)
    admin.get(f"{API}/rmas", headers=AUTH)
    admin.get(f"{API}/return-labels/930202051412345.pdf", headers=AUTH)

    summary = admin.get("/_admin/requests/summary").json()

    counts = {(c["method"], c["path"], c["status_code"]): c["count"] for c in summary["counts"]}
    assert summary["total"] == 4
    assert counts == {
        ("POST", f"{API}/rmas", 200): 1,
        ("GET", f"{API}/rmas", 503): 1,
        ("GET", f"{API}/rmas", 200): 1,
        ("GET", f"{API}/return-labels/{{id}}.pdf", 200): 1,
    }


def test_export_shows_deleted_rmas_history_and_callbacks(
    ams: AmsClient, admin: httpx.Client
) -> None:
    ams.create_rmas([rma("RLY-7701"), rma("RLY-7702")]).raise_for_failures()
    ams.update_rmas([rma("RLY-7701", customer_instructions="leave at door")]).raise_for_failures()
    ams.delete_rmas(["RLY-7702"]).raise_for_failures()
    body = [{"url": "https://hooks.example.com/r", "message_type": "rmaEvent", "token": "sekrit"}]
    admin.post(f"{API}/callbacks", json=body, headers=AUTH).raise_for_status()

    export = admin.get("/_admin/export").json()

    assert export["counts"] == {"rmas": 2, "live": 1, "deleted": 1, "callbacks": 1}
    by_cid = {r["customer_identifier"]: r for r in export["rmas"]}
    updated, deleted = by_cid["RLY-7701"], by_cid["RLY-7702"]
    assert [h["action"] for h in updated["history"]] == ["create", "update"]
    assert updated["history"][1]["changes"]["customer_instructions"] == {
        "from": None,
        "to": "leave at door",
    }
    assert updated["history"][1]["version"] == 2
    assert deleted["status"] == "deleted" and deleted["deleted_at"]
    assert [h["action"] for h in deleted["history"]] == ["create", "delete"]
    assert deleted["history"][1]["changes"]["status"] == {"from": "open", "to": "deleted"}
    (cb,) = export["callbacks"]
    assert cb["has_token"] is True and "token" not in cb
    assert "sekrit" not in str(export)


def test_export_of_10000_rmas_is_fast(admin: httpx.Client) -> None:
    records = [
        {"customer_identifier": f"RLY-{i:06d}", "status": "deleted" if i % 10 == 0 else "open"}
        for i in range(10_000)
    ]
    admin.post("/_admin/rmas", params={"echo": "false"}, json=records).raise_for_status()

    started = time.perf_counter()
    reply = admin.get("/_admin/export")
    took = time.perf_counter() - started

    reply.raise_for_status()
    assert reply.json()["counts"]["rmas"] == 10_000
    assert reply.json()["counts"]["deleted"] == 1_000
    assert took < 5, took


def test_plain_500_still_reported_as_server_error(ams: AmsClient, admin: httpx.Client) -> None:
    set_faults(admin, commit_then_fail_rate=1.0, commit_then_fail_modes=["500"])
    with pytest.raises(AmsServerError):
        ams.create_rmas([rma("RLY-7801")])
    assert len(_cids(admin, "RLY-7801")) == 1
