"""The returns-platform seam: a merchant's ``platform`` picks the adapter; an unknown one is
refused when the merchant is loaded; the Returnly adapter is what the stages get."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import runtime
from clients.returnly import ReturnlyClient
from core.merchant import merchant_from_settings
from platforms import ReturnlyPlatform, ReturnsPlatform, as_platform


def _merchants_file(tmp_path: Path, **over: object) -> Path:
    config = merchant_from_settings("acme")
    row = json.loads(config.model_dump_json())
    for key in ("returnly_api_token", "returnly_webhook_secret", "ams_api_token"):
        row[key] = getattr(config, key).get_secret_value()
    row["ams_callback_token"] = config.ams_callback_token.get_secret_value()
    path = tmp_path / "merchants.json"
    path.write_text(json.dumps([{**row, **over}]), encoding="utf-8")
    return path


def test_a_merchant_defaults_to_returnly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runtime.MERCHANTS_FILE_ENV, str(_merchants_file(tmp_path)))
    runtime.reset_runtime()
    config = runtime.load_merchant("acme")
    assert config.platform == "returnly"
    platform = runtime.returns_platform(config)
    assert isinstance(platform, ReturnlyPlatform)
    assert platform.client is runtime.returnly_client(config)  # the shared, rate-gated one
    assert platform.capabilities.refund_completion == "immediate"
    assert platform.flag_for_review("r1", "why") is False  # Returnly: the bridge's queue


def test_an_unknown_platform_is_refused_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(runtime.MERCHANTS_FILE_ENV, str(_merchants_file(tmp_path, platform="loop")))
    runtime.reset_runtime()
    with pytest.raises(runtime.UnknownPlatformError, match=r"'loop'.*known: returnly"):
        runtime.load_merchant("acme")


def test_a_bare_returnly_client_is_wrapped_once() -> None:
    client = ReturnlyClient(base_url="http://127.0.0.1:9", api_token="t")
    platform: ReturnsPlatform = as_platform(client)
    assert isinstance(platform, ReturnlyPlatform) and platform.client is client
    assert as_platform(platform) is platform
    client.close()
