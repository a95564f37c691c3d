"""The task storage's block choice and the sweep on a local directory (no server needed)."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from prefect.filesystems import LocalFileSystem, RemoteFileSystem

from runtime.task_storage import is_remote, storage_block, sweep


@pytest.mark.parametrize(
    ("url", "remote"),
    [("s3://b/p", True), ("gs://b", True), ("file:///x", False), ("/x", False), (None, False)],
)
def test_only_urls_of_another_scheme_are_remote(url: str | None, remote: bool) -> None:
    assert is_remote(url) is remote


def test_an_s3_url_is_a_remote_file_system_with_only_the_endpoint_stored() -> None:
    block = storage_block("s3://bucket/bridge/", "http://127.0.0.1:9000")
    assert isinstance(block, RemoteFileSystem)
    assert block.basepath == "s3://bucket/bridge"
    assert block.settings == {"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}}


def test_a_directory_is_a_local_file_system_at_its_absolute_path(tmp_path: Path) -> None:
    block = storage_block(f"file://{tmp_path}/shared")
    assert isinstance(block, LocalFileSystem)
    assert block.basepath == str(tmp_path / "shared")


def test_sweep_deletes_only_files_older_than_the_cut_off(tmp_path: Path) -> None:
    (tmp_path / "parameters").mkdir()
    old, new, result = (
        tmp_path / "parameters" / "old",
        tmp_path / "parameters" / "new",
        tmp_path / "r1",
    )
    for f in (old, new, result):
        f.write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    os.utime(result, (two_days_ago, two_days_ago))
    report = sweep(timedelta(days=1), block=LocalFileSystem(basepath=str(tmp_path)))
    assert (report.deleted, report.kept) == (2, 1)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["new"]
