"""``bridge inbox list`` / ``bridge inbox replay`` on a SQLite ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from ledger import open_ledger
from runtime import reset_runtime


@pytest.fixture
def ledger_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("BRIDGE_LEDGER_URL", url)
    reset_runtime()
    with open_ledger(url) as ledger:
        for n in (1, 2):
            ledger.put_inbox("returnly", f"d-{n}", "acme", "return.authorized", f"R{n}", {})
        ledger.dead_letter_inbox("returnly", "d-1", "5 attempts, last: no outcome")
    return url


def test_inbox_list_shows_dead_letters(ledger_url: str) -> None:
    result = CliRunner().invoke(app, ["inbox", "list"])

    assert result.exit_code == 0, result.output
    assert "returnly/d-1  dead  merchant=acme" in result.stdout
    assert "d-2" not in result.stdout


def test_inbox_replay_requeues_and_closes_the_exception(ledger_url: str) -> None:
    result = CliRunner().invoke(app, ["inbox", "replay", "returnly/d-1", "--by", "ops"])

    assert result.exit_code == 0, result.output
    assert "replayed returnly/d-1 (pending)" in result.stdout
    with open_ledger(ledger_url) as ledger:
        row = ledger.get_inbox("returnly", "d-1")
        assert row is not None and row.status == "pending"
        (closed,) = ledger.list_exceptions(status=None)
        assert (closed.status, closed.resolved_by) == ("resolved", "ops")


def test_inbox_replay_refuses_a_message_that_is_not_dead(ledger_url: str) -> None:
    result = CliRunner().invoke(app, ["inbox", "replay", "returnly/d-2"])

    assert result.exit_code == 1
    assert "only dead or failed replay" in result.output
