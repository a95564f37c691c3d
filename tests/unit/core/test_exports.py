"""The public surface of core.mapping, core.refunds and core.speed is deliberate and importable."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

import core.mapping
import core.refunds
import core.speed


@pytest.mark.parametrize(
    "module",
    [
        pytest.param(core.mapping, id="mapping"),
        pytest.param(core.refunds, id="refunds"),
        pytest.param(core.speed, id="speed"),
    ],
)
def test_exported_members_exist(module: types.ModuleType) -> None:
    names = module.__all__

    assert len(names) == len(set(names))
    for name in names:
        assert getattr(module, name) is not None, name


def test_core_rules_do_not_import_prefect_or_http_directly() -> None:
    root = Path(core.mapping.__file__).parent.parent
    folders = ("mapping", "refunds", "speed", "drift")
    sources = [path for folder in folders for path in root.joinpath(folder).glob("*.py")]
    sources.append(root / "policy.py")
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for banned in ("import httpx", "from httpx", "import prefect", "from prefect"):
            assert banned not in text, f"{path.name}: {banned}"
