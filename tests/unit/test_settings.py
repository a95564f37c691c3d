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


@pytest.mark.parametrize(
    ("env", "refused"),
    [
        ({}, True),  # default sources: the settings merchant, then blocks
        ({"BRIDGE_MERCHANT_SOURCES": "settings,blocks"}, True),
        ({"BRIDGE_MERCHANT_SOURCES": "blocks, settings"}, True),
        ({"BRIDGE_MERCHANT_SOURCES": "blocks"}, False),  # the blocks hold the secrets
        ({"BRIDGE_MERCHANT_SOURCES": "file,blocks", "BRIDGE_MERCHANTS_FILE": "/m.json"}, False),
        ({"BRIDGE_MERCHANTS_FILE": "/m.json"}, False),  # default sources: file, then blocks
    ],
)
def test_production_checks_placeholders_only_when_the_settings_merchant_is_used(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], refused: bool
) -> None:
    monkeypatch.setenv("BRIDGE_MODE", "production")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if refused:
        with pytest.raises(ValidationError, match="BRIDGE_RETURNLY_API_TOKEN") as info:
            load_settings()
        assert "BRIDGE_MERCHANT_SOURCES=blocks" in str(info.value)  # says how to fix it
    else:
        s = load_settings()
        assert s.mode == "production"
        assert s.ledger.sqlalchemy_url().startswith("sqlite:///")


def test_production_accepts_real_secrets_for_the_settings_merchant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BRIDGE_MODE", "production")
    for name in ("RETURNLY_API_TOKEN", "RETURNLY_WEBHOOK_SECRET", "AMS_CALLBACK_TOKEN"):
        monkeypatch.setenv(f"BRIDGE_{name}", f"real-{name.lower()}")
    with pytest.raises(ValidationError) as info:  # one placeholder left is still refused
        load_settings()
    assert "BRIDGE_AMS_API_TOKEN" in str(info.value)
    assert "BRIDGE_RETURNLY_API_TOKEN" not in str(info.value)
    monkeypatch.setenv("BRIDGE_AMS_API_TOKEN", "real-ams-token")
    assert load_settings().ams.api_token.get_secret_value() == "real-ams-token"


def test_unknown_merchant_source_is_an_error_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BRIDGE_MODE", "production")
    monkeypatch.setenv("BRIDGE_MERCHANT_SOURCES", "blocks,vault")
    with pytest.raises(ValidationError, match="vault"):
        load_settings()
