"""Settings: sandbox defaults, BRIDGE_ environment, no placeholders in production."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.settings import SANDBOX_AMS_TOKEN, load_settings


def test_defaults_point_at_sandboxes() -> None:
    s = load_settings()
    assert s.returnly.base_url.startswith("http://127.0.0.1")
    assert s.ams.api_token.get_secret_value() == SANDBOX_AMS_TOKEN
    assert s.ledger.sqlalchemy_url() == "sqlite:///var/ledger.db"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_AMS_ACCOUNT", "acme")
    monkeypatch.setenv("BRIDGE_LEDGER_URL", "postgresql+psycopg2://u@127.0.0.1/x")
    s = load_settings()
    assert s.ams.account == "acme"
    assert s.ledger.sqlalchemy_url() == "postgresql+psycopg2://u@127.0.0.1/x"


def test_production_refuses_placeholder_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_MODE", "production")
    with pytest.raises(ValidationError, match="BRIDGE_AMS_API_TOKEN"):
        load_settings()


def test_secrets_masked_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_AMS_API_TOKEN", "real-token-abc")
    s = load_settings()
    assert "real-token-abc" not in repr(s)
    assert "real-token-abc" not in str(s.model_dump())
