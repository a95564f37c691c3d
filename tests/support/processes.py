"""Child processes started together, released at one moment, and their last lines read back.

Overlap tests need real OS processes (not threads) racing on one ledger: each child prints
``ready`` once set up and waits for a line on stdin, so all of them start their work at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_released_together(
    script: str, arg_lists: Sequence[Sequence[str]], cwd: Path, timeout_s: float = 180
) -> list[str]:
    """Run ``python -c script *args`` once per argument list; returns each one's last line.

    A child that dies before ``ready`` fails the test with its stderr; a non-zero exit too.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        for args in arg_lists
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stderr is not None
            line = proc.stdout.readline().strip()
            if line != "ready":  # the child died while setting up: say why
                proc.wait(timeout=30)
                pytest.fail(f"child did not start: {line!r}\n{proc.stderr.read()}")
        for proc in procs:  # release them together
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=timeout_s) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    return [out.strip().splitlines()[-1] for out, _ in outputs]
