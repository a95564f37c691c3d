"""The layer contracts in pyproject.toml hold (import-linter), and a forbidden import breaks them.

The contracts are the rooms of ARCHITECTURE.md; `make check` runs the same `lint-imports`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run ``lint-imports`` (the venv's) in ``root``, without its cache (a fresh graph)."""
    exe = Path(sys.executable).parent / "lint-imports"
    command = str(exe) if exe.exists() else shutil.which("lint-imports")
    assert command, "lint-imports is not installed (dev dependency import-linter)"
    return subprocess.run(
        [command, "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120
    )


def test_layer_contracts_are_kept() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _broken(tmp_path: Path, module: str, line: str) -> str:
    """lint-imports output after appending ``line`` to ``module`` in a scratch copy of the rooms.

    Asserts that the run fails; the real tree is not edited.
    """
    for entry in ROOT.iterdir():
        if entry.is_dir() and (entry / "__init__.py").exists():
            shutil.copytree(
                entry, tmp_path / entry.name, ignore=shutil.ignore_patterns("__pycache__")
            )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout
    return result.stdout


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    out = _broken(tmp_path, "core/policy.py", "import ledger  # noqa")
    assert "Rooms are layered" in out and "BROKEN" in out
    assert "core.policy -> ledger" in out


def test_prefect_in_core_breaks_the_contract(tmp_path: Path) -> None:
    out = _broken(tmp_path, "clients/http.py", "import prefect  # noqa")
    assert "import no Prefect" in out
    assert "clients.http -> prefect" in out


def test_webhooks_importing_stage_logic_breaks_the_layers(tmp_path: Path) -> None:
    out = _broken(tmp_path, "webhooks/grammar.py", "import stages.intake  # noqa")
    assert "webhooks.grammar -> stages.intake" in out


def test_a_stage_calling_a_platform_client_breaks_the_seam(tmp_path: Path) -> None:
    out = _broken(tmp_path, "stages/intake.py", "import clients.returnly  # noqa")
    assert "never a platform's client" in out and "BROKEN" in out
    assert "stages.intake -> clients.returnly" in out


def test_prefect_in_a_stage_breaks_the_contract(tmp_path: Path) -> None:
    out = _broken(tmp_path, "stages/outcomes.py", "import prefect  # noqa")
    assert "import no Prefect" in out
    assert "stages.outcomes -> prefect" in out
