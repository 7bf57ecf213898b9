"""The folder guard: a missing, replaced or full data folder is a problem named."""

from __future__ import annotations

import shutil
from pathlib import Path

from sendflowr.store.health import FolderGuard


def _folder(root: Path) -> Path:
    path = root / "clickhouse"
    for part in ("metadata", "store"):
        (path / part).mkdir(parents=True)
    return path


def test_the_folder_the_engine_opened_is_fine(tmp_path: Path) -> None:
    guard = FolderGuard(_folder(tmp_path))
    guard.arm()
    assert guard.problem() is None


def test_a_deleted_folder_is_missing(tmp_path: Path) -> None:
    path = _folder(tmp_path)
    guard = FolderGuard(path)
    guard.arm()
    shutil.rmtree(path)
    assert "missing" in (guard.problem() or "")


def test_a_folder_recreated_under_the_engine_is_replaced(tmp_path: Path) -> None:
    path = _folder(tmp_path)
    guard = FolderGuard(path)
    guard.arm()
    shutil.rmtree(path)
    _folder(tmp_path)
    assert "replaced" in (guard.problem() or "")


def test_a_lost_subfolder_and_a_full_disk_are_named(tmp_path: Path) -> None:
    path = _folder(tmp_path)
    guard = FolderGuard(path)
    guard.arm()
    shutil.rmtree(path / "store")
    assert "store/" in (guard.problem() or "")
    (path / "store").mkdir()
    full = FolderGuard(path, min_free_bytes=1 << 62)
    assert "full" in (full.problem() or "")
