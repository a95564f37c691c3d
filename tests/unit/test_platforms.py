"""The returns-platform seam: a merchant's ``platform`` picks the adapter; an unknown one is
refused when the merchant is loaded; the Returnly adapter is what the stages get."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

import runtime
from clients.returnly import Return, ReturnlyClient
from core.merchant import merchant_from_settings
from platforms import ReturnlyPlatform, ReturnsPlatform, as_platform
from platforms.returnly.adapter import LIST_MIN, LIST_SLACK
from tests.unit.core.factories import returnly_return


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


class _Pages:
    """A Returnly client stand-in that serves fixed pages and counts the ones read."""

    def __init__(self, pages: list[list[str]]) -> None:
        self.pages = pages
        self.read = 0

    def iter_return_pages(self, **_: object) -> Iterator[list[Return]]:
        for n, page in enumerate(self.pages):
            self.read += 1
            yield [returnly_return(id=rid, status="authorized", rma=f"p{n}") for rid in page]


def _listed(pages: list[list[str]], wanted: list[str]) -> tuple[dict[str, Return], int]:
    client = _Pages(pages)
    platform = ReturnlyPlatform(client=cast(ReturnlyClient, client))
    found = platform.read_listed(wanted, updated_since=datetime(2026, 1, 1, tzinfo=UTC))
    return found, client.read


WANTED = [f"w{i}" for i in range(LIST_MIN)]


def test_a_listed_reread_stops_once_every_return_is_found() -> None:
    half = len(WANTED) // 2
    pages = [[*WANTED[:half], "x"], WANTED[half:], ["y"]]
    found, read = _listed(pages, WANTED)
    assert sorted(found) == sorted(WANTED)
    assert read == 2  # the third page is never asked for


def test_a_listed_reread_gives_up_when_the_pages_find_too_little() -> None:
    """Mostly other returns: after LIST_SLACK pages ahead of what it found it stops; the
    caller reads the rest one by one, so the listing cost at most LIST_SLACK requests more."""
    others = [[f"o{p}-{i}" for i in range(3)] for p in range(10)]
    found, read = _listed(others, WANTED)
    assert (found, read) == ({}, LIST_SLACK)


def test_a_return_seen_twice_keeps_its_later_record() -> None:
    """It moved to the end of the list while the pages were read: the later page is newer."""
    found, _ = _listed([WANTED, [WANTED[0]]], [*WANTED, "missing"])
    assert found[WANTED[0]].rma == "p1"


def test_a_few_returns_are_not_listed_at_all() -> None:
    found, read = _listed([WANTED], WANTED[: LIST_MIN - 1])
    assert (found, read) == ({}, 0)
