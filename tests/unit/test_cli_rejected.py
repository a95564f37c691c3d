"""``bridge rejected`` shows what the receiver refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from runtime import get_ledger, reset_runtime


@pytest.fixture
def ledger_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "ledger.db"
    monkeypatch.setenv("BRIDGE_LEDGER_PATH", str(path))
    reset_runtime()
    yield path
    reset_runtime()


def test_rejected_lists_refused_requests(ledger_file: Path) -> None:
    get_ledger().reject_inbox(
        "ams",
        "acme",
        "rmaEvent",
        {"token_form": "bearer"},
        "wrong token (bearer)",
        claimed_message_id="m-1",
    )
    get_ledger().reject_inbox("returnly", "acme", "return.authorized", {}, "stale timestamp")

    text = CliRunner().invoke(app, ["rejected"])
    as_json = CliRunner().invoke(app, ["rejected", "--json", "--source", "ams"])

    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert "returnly/acme  return.authorized: stale timestamp" in lines[0]
    assert "ams/acme  rmaEvent: wrong token (bearer) claimed=m-1" in lines[1]
    (row,) = [json.loads(line) for line in as_json.output.splitlines()]
    assert (row["reason"], row["excerpt"]) == ("wrong token (bearer)", {"token_form": "bearer"})


def test_rejected_says_so_when_there_is_nothing(ledger_file: Path) -> None:
    result = CliRunner().invoke(app, ["rejected"])

    assert (result.exit_code, result.output.strip()) == (0, "no rejected requests")
