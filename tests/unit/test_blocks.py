"""The merchant block and how the runtime room finds merchants saved as blocks."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from pydantic import SecretStr, ValidationError

import runtime
from core.merchant import MerchantConfig
from core.policy import InventoryStatusRule, MerchantPolicy
from core.settings import SANDBOX_AMS_TOKEN, SANDBOX_WEBHOOK_SECRET
from runtime.blocks import BLOCK_TYPE_SLUG, MerchantBlock

SECRETS = {
    "returnly_api_token": "rly-token-unit-0001",
    "returnly_webhook_secret": "whsec-unit-0002",
    "ams_api_token": "ams-token-unit-0003",
    "ams_callback_token": "cb-token-unit-0004",
}


def _config(name: str = "acme", **over: object) -> MerchantConfig:
    return MerchantConfig.model_validate(
        {
            "name": name,
            "store_url": "https://acme.example.com",
            "returnly_base_url": "https://api.returnly.com",
            "ams_base_url": "https://sandbox.masonhub.co",
            "ams_account": "acme",
            "timezone": "America/New_York",
            "policy": MerchantPolicy(
                reason_code_map={"Too Roomy": "tooBig"},
                inventory_status_policy={
                    "damaged": InventoryStatusRule(
                        action="refund_with_deduction", deduction_fraction=Decimal("0.5")
                    )
                },
            ),
            **{k: SecretStr(v) for k, v in SECRETS.items()},
            **over,
        }
    )


def test_block_round_trips_a_merchant_config() -> None:
    config = _config()
    block = MerchantBlock.from_config(config)
    assert block.to_config("acme") == config
    assert block.to_config("other").name == "other"


def test_block_without_a_name_refuses_to_become_a_config() -> None:
    with pytest.raises(ValueError, match="needs a name"):
        MerchantBlock.from_config(_config()).to_config()


def test_block_never_shows_its_secrets() -> None:
    block = MerchantBlock.from_config(_config())
    shown = [
        repr(block),
        str(block),
        block.model_dump_json(),
        json.dumps(block.model_dump(mode="json")),
    ]
    for text in shown:
        for secret in SECRETS.values():
            assert secret not in text
    assert block.returnly_api_token.get_secret_value() == SECRETS["returnly_api_token"]


def test_block_type_slug_is_stable() -> None:
    assert MerchantBlock.get_block_type_slug() == BLOCK_TYPE_SLUG == "merchant-config"


def test_merchant_sources_default_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    assert runtime.merchant_sources() == ["settings", "blocks"]
    monkeypatch.setenv(runtime.MERCHANTS_FILE_ENV, "/nowhere.json")
    assert runtime.merchant_sources() == ["file", "blocks"]
    monkeypatch.setenv(runtime.MERCHANT_SOURCES_ENV, "blocks, settings")
    assert runtime.merchant_sources() == ["blocks", "settings"]
    monkeypatch.setenv(runtime.MERCHANT_SOURCES_ENV, "blocks,vault")
    with pytest.raises(ValueError, match="vault"):
        runtime.merchant_sources()


def _merchants_file(tmp_path: Path, *configs: MerchantConfig) -> Path:
    path = tmp_path / "merchants.json"
    rows = [
        {**c.model_dump(mode="json"), **{k: getattr(c, k).get_secret_value() for k in SECRETS}}
        for c in configs
    ]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("mode", ["production", "local"])
def test_file_merchants_on_placeholder_secrets_are_refused_in_production(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str
) -> None:
    sandbox_token = SecretStr(SANDBOX_AMS_TOKEN)
    path = _merchants_file(tmp_path, _config("acme"), _config("beta", ams_api_token=sandbox_token))
    monkeypatch.setenv(runtime.MERCHANTS_FILE_ENV, str(path))
    monkeypatch.setenv("BRIDGE_MODE", mode)
    if mode == "local":  # the demo and tests run file merchants on the sandbox secrets
        assert runtime.load_merchant("beta").ams_api_token == sandbox_token
        return
    with pytest.raises(ValueError) as info:
        runtime.load_merchant("acme")  # one bad merchant in the file refuses the file
    message = str(info.value)
    assert "'beta'" in message and "ams_api_token" in message and str(path) in message
    assert SANDBOX_AMS_TOKEN not in message
    for secret in SECRETS.values():
        assert secret not in message


def test_file_merchants_with_real_secrets_run_in_production(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(runtime.MERCHANTS_FILE_ENV, str(_merchants_file(tmp_path, _config())))
    monkeypatch.setenv("BRIDGE_MODE", "production")
    assert runtime.load_merchant("acme") == _config()


def test_without_a_prefect_api_blocks_are_not_consulted() -> None:
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert runtime.merchant_names("all") == ["sandbox-merchant"]
        with pytest.raises(runtime.UnknownMerchantError) as info:
            runtime.load_merchant("acme")
    assert "blocks" not in str(info.value)


# --- against a Prefect server ----------------------------------------------------------


@pytest.fixture
def saved(prefect_server: None) -> Iterator[MerchantConfig]:
    """``acme`` saved as a block; deleted afterwards so ``all`` stays the sandbox merchant."""
    config = _config()
    MerchantBlock.from_config(config).save("acme", overwrite=True)
    runtime.reset_runtime()
    yield config
    for name in ("acme", "acme-broken"):
        with contextlib.suppress(ValueError):
            MerchantBlock.delete(name)
    runtime.reset_runtime()


def test_load_merchant_falls_back_to_a_saved_block(saved: MerchantConfig) -> None:
    assert runtime.load_merchant("acme") == saved
    assert runtime.load_merchant("sandbox-merchant").name == "sandbox-merchant"  # settings
    assert runtime.merchant_names("all") == ["acme", "sandbox-merchant"]
    assert runtime.merchant_names("acme") == ["acme"]
    # The shared deployments' selector once acme has a queue of its own.
    assert runtime.merchant_names("all,-acme") == ["sandbox-merchant"]


def test_blocks_only_source_leaves_the_settings_merchant_out(
    saved: MerchantConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(runtime.MERCHANT_SOURCES_ENV, "blocks")
    assert runtime.merchant_names("all") == ["acme"]
    with pytest.raises(runtime.UnknownMerchantError):
        runtime.load_merchant("sandbox-merchant")


def test_production_with_block_merchants_only_runs_on_placeholder_settings(
    saved: MerchantConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The BRIDGE_* secrets keep their sandbox placeholders: the blocks hold the real ones."""
    monkeypatch.setenv("BRIDGE_MODE", "production")
    monkeypatch.setenv("BRIDGE_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv(runtime.MERCHANT_SOURCES_ENV, "blocks")
    assert runtime.merchant_names("all") == ["acme"]
    assert runtime.load_merchant("acme") == saved
    assert runtime.get_ledger() is not None  # the settings load: no placeholder error

    monkeypatch.delenv(runtime.MERCHANT_SOURCES_ENV)  # the settings merchant is back in use
    runtime.reset_runtime()
    with pytest.raises(ValidationError, match="BRIDGE_AMS_API_TOKEN"):
        runtime.load_merchant("acme")


def test_a_block_on_placeholder_secrets_is_refused_in_production(
    saved: MerchantConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = _config(returnly_webhook_secret=SecretStr(SANDBOX_WEBHOOK_SECRET))
    MerchantBlock.from_config(broken).save("acme-broken", overwrite=True)
    monkeypatch.setenv("BRIDGE_MODE", "production")
    monkeypatch.setenv(runtime.MERCHANT_SOURCES_ENV, "blocks")
    runtime.reset_runtime()
    with pytest.raises(ValueError, match="returnly_webhook_secret") as info:
        runtime.load_merchant("acme-broken")
    assert "merchant-config block" in str(info.value)
    assert SANDBOX_WEBHOOK_SECRET not in str(info.value)
    assert runtime.load_merchant("acme") == saved  # the other merchants still run


def test_a_loaded_block_is_cached_per_process(saved: MerchantConfig) -> None:
    assert runtime.load_merchant("acme") == saved
    MerchantBlock.delete("acme")
    assert runtime.load_merchant("acme") == saved  # served from the cache, no API call
    runtime.reset_runtime()
    with pytest.raises(runtime.UnknownMerchantError, match="merchant-config blocks"):
        runtime.load_merchant("acme")


def test_an_unknown_name_is_remembered_briefly(prefect_server: None) -> None:
    runtime.reset_runtime()
    with pytest.raises(runtime.UnknownMerchantError):
        runtime.load_merchant("acme")
    MerchantBlock.from_config(_config()).save("acme", overwrite=True)
    try:
        with pytest.raises(runtime.UnknownMerchantError):
            runtime.load_merchant("acme")  # the miss is cached for BLOCK_MISS_TTL_S
        runtime.reset_runtime()
        assert runtime.load_merchant("acme").name == "acme"
    finally:
        MerchantBlock.delete("acme")
        runtime.reset_runtime()


def test_an_invalid_block_names_the_field_never_a_secret(saved: MerchantConfig) -> None:
    broken = MerchantBlock.from_config(saved).model_copy(update={"timezone": "Mars/Olympus"})
    broken.save("acme-broken", overwrite=True)
    with pytest.raises(ValueError, match="timezone") as info:
        runtime.load_merchant("acme-broken")
    for secret in SECRETS.values():
        assert secret not in str(info.value)
    assert runtime.merchant_names("all") == ["acme", "acme-broken", "sandbox-merchant"]


@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "a\nb", "Acme", "a" * 64])
def test_load_merchant_refuses_a_non_slug_before_any_block_lookup(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[str] = []
    monkeypatch.setattr(runtime.merchants, "_blocks_enabled", lambda: True)
    monkeypatch.setattr(runtime.merchants, "block_merchant", lambda n: looked_up.append(n))

    with pytest.raises(runtime.UnknownMerchantError) as refused:
        runtime.load_merchant(name)

    assert looked_up == []
    assert "not a merchant name" in str(refused.value)
