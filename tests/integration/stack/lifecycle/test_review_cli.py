"""``bridge review`` against the sandboxes and a ledger file (no Prefect server: applied here)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.mapping import customer_identifier_for
from ledger import Ledger
from runtime import ams_client, get_ledger, load_merchant, reset_runtime, returnly_client
from stages.arrival import fetch_open_rmas, record_rmas
from stages.completion import complete_returns
from stages.intake import intake_returns
from tests.support.stack import Stack

MERCHANT = "sandbox-merchant"


@pytest.fixture
def bridge(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    """The settings merchant on the sandboxes, 'qc' receipts held, a fresh ledger file."""
    monkeypatch.setenv("BRIDGE_RETURNLY_BASE_URL", stack.returnly_url)
    monkeypatch.setenv("BRIDGE_AMS_BASE_URL", stack.ams_url)
    monkeypatch.setenv("BRIDGE_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("BRIDGE_AMS_REFUND_STATUSES", '["available"]')
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    reset_runtime()
    yield get_ledger()
    reset_runtime()


def _held(stack: Stack, ledger: Ledger, n: int) -> list[str]:
    config = load_merchant(MERCHANT)
    returnly, ams = returnly_client(config), ams_client(config)
    ids = [stack.plant(lines=[{"units": 1, "unit_price": "30.00"}])["id"] for _ in range(n)]
    intake_returns(config, [returnly.get_return(r) for r in ids], ledger=ledger, ams=ams)
    for rid in ids:
        ams.trigger_rma_event(customer_identifier_for(rid), "receiveFull")
    rmas, _ = fetch_open_rmas(config, ledger=ledger, ams=ams)
    record_rmas(config, rmas, ledger=ledger)
    outcomes = complete_returns(config, ids, ledger=ledger, returnly=returnly, ams=ams)
    assert [o.outcome for o in outcomes] == ["held"] * n  # one batch: none blocks another
    return ids


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, ["review", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_review_list_show_approve_reject_resolve(stack: Stack, bridge: Ledger) -> None:
    ok, no = _held(stack, bridge, 2)
    other, _ = bridge.open_exception(MERCHANT, "missing_sku", "no SKU", {}, return_id="R9")
    rows = json.loads(_run("list", "--merchant", MERCHANT, "--json"))
    by_return = {r["return_id"]: r for r in rows}
    assert set(by_return) == {ok, no, "R9"}
    assert by_return[ok]["rma"] and by_return[ok]["reason"].startswith("held:")
    held_only = json.loads(_run("list", "--reason", by_return[ok]["reason"], "--json"))
    assert {r["return_id"] for r in held_only} == {ok, no}
    assert "no SKU" in _run("show", str(other.id))

    ok_id, no_id = by_return[ok]["id"], by_return[no]["id"]
    approved = json.loads(
        _run("approve", str(ok_id), "--deduction", "2.5", "--by", "ann", "--note", "ok", "--json")
    )
    assert approved["sent_to_run"] is None and approved["outcome"].startswith("refunded")
    rejected = json.loads(_run("reject", str(no_id), "--by", "ann", "--json"))
    assert rejected["outcome"] == "not refunded"
    assert stack.refund_count(ok) == 1 and stack.refund_count(no) == 0
    shown = json.loads(_run("show", str(ok_id), "--json"))
    assert shown["status"] == "resolved" and shown["resolved_by"] == "ann"
    assert (
        shown["review"]["decision"] == "approve" and shown["review"]["deduction_amount"] == "2.50"
    )

    again = CliRunner().invoke(app, ["review", "reject", str(ok_id), "--by", "bob"])
    assert again.exit_code == 1 and "already decided: approve by ann" in again.output
    assert stack.refund_count(ok) == 1

    _run(
        "resolve",
        "--merchant",
        MERCHANT,
        "--reason",
        "missing_sku",
        "--note",
        "mapped",
        "--by",
        "cy",
    )
    assert "0 open" in _run("list")
