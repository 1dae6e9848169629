"""The day switch (``smprod.product.dayswitch``): one step for readers, the fallback journal where
``RENAME_EXCHANGE`` is refused, and the cleanup of what killed writers left.

The states a kill leaves are made here by hand (each is what the fault test,
tests/integration/test_day_switch_faults.py, gets from a real SIGKILL)."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from pathlib import Path

import pytest

from smprod.errors import ProductError
from smprod.layout import DaySwitchPaths, ProductFiles, WorkLayout
from smprod.product import dayswitch
from smprod.product.read import product_problems, read_layers
from tests.catalog_days import tiny_region
from tests.day_versions import DAY, digests, write_version


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, str | None]]:
    """Checksums of versions 1 and 2 of the day, each written on its own."""
    root = tmp_path_factory.mktemp("versions")
    return {v: digests(write_version(root / str(v), v)) for v in (1, 2)}


def _version(files: ProductFiles, versions: dict[int, dict[str, str | None]]) -> int | None:
    """Which version the day's published files are, wholly (None: absent or a mix)."""
    now = digests(files)
    return next((v for v, expected in versions.items() if now == expected), None)


def _month(files: ProductFiles) -> list[str]:
    return sorted(p.name for p in files.directory.parent.iterdir())


def _unsupported(*args: object) -> None:
    raise OSError(errno.EINVAL, "Invalid argument (simulated: no RENAME_EXCHANGE here)")


def test_rewrite_replaces_the_whole_directory_and_leaves_nothing_beside(tmp_path: Path, versions) -> None:
    files = write_version(tmp_path, 1)
    first = os.stat(files.directory).st_ino
    write_version(tmp_path, 2)
    assert _version(files, versions) == 2
    assert os.stat(files.directory).st_ino != first  # a new directory, not files renamed in it
    assert _month(files) == ["01"]
    names = sorted(p.name for p in files.assets().values())
    assert sorted(p.name for p in files.directory.iterdir()) == names
    assert product_problems(files, tiny_region()) == []


@pytest.mark.parametrize("refusal", ["filesystem", "C library"])
def test_rewrite_without_exchange_uses_the_journal(
    tmp_path: Path, versions, monkeypatch: pytest.MonkeyPatch, refusal: str
) -> None:
    files = write_version(tmp_path, 1)
    if refusal == "filesystem":  # EINVAL, as NFS or ZFS before 2.2 answer
        monkeypatch.setattr(dayswitch, "exchange", _unsupported)
    else:  # a C library without renameat2: ENOSYS
        monkeypatch.setattr(dayswitch, "_LIBC", object())
    renames = []
    rename = os.rename
    monkeypatch.setattr(dayswitch.os, "rename", lambda a, b: (renames.append(Path(b).name), rename(a, b)))
    write_version(tmp_path, 2)
    monkeypatch.undo()
    assert renames == [".01.ready", ".01.old", "01"]  # F1 commit, F2 old aside, F3 new in
    assert _version(files, versions) == 2
    assert _month(files) == ["01"]
    assert product_problems(files, tiny_region()) == []


def test_an_exchange_that_fails_otherwise_keeps_the_old_day(
    tmp_path: Path, versions, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = write_version(tmp_path, 1)

    def broken(*args: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(dayswitch, "exchange", broken)
    with pytest.raises(ProductError, match="Input/output error"):
        write_version(tmp_path, 2)
    assert _version(files, versions) == 1
    assert _month(files) == ["01"]


def test_the_journal_undoes_its_commit_when_the_old_day_cannot_be_moved(
    tmp_path: Path, versions, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = write_version(tmp_path, 1)
    monkeypatch.setattr(dayswitch, "exchange", _unsupported)
    rename = os.rename

    def refuse_f2(source: Path, target: Path) -> None:
        if Path(target) == DaySwitchPaths.of(files).old:
            raise OSError(errno.EACCES, "Permission denied")
        rename(source, target)

    monkeypatch.setattr(dayswitch.os, "rename", refuse_f2)
    with pytest.raises(ProductError, match="Permission denied"):
        write_version(tmp_path, 2)
    monkeypatch.undo()
    assert _version(files, versions) == 1
    assert _month(files) == ["01"]


def _committed(tmp_path: Path, versions_root: Path) -> tuple[ProductFiles, DaySwitchPaths]:
    """Day version 1 published and version 2 committed in ``.01.ready`` (journal step F1 done)."""
    files = write_version(tmp_path, 1)
    paths = DaySwitchPaths.of(files)
    shutil.copytree(write_version(versions_root, 2).directory, paths.ready)
    return files, paths


def test_a_kill_after_the_commit_leaves_the_old_day_and_the_next_writer_rolls_forward(
    tmp_path: Path, versions
) -> None:
    files, paths = _committed(tmp_path / "work", tmp_path / "v2")
    assert product_problems(files, tiny_region()) == []  # readers: the old day, whole
    assert _version(files, versions) == 1
    assert dayswitch.settle_day(files.directory) == [
        f"finished the interrupted switch of {files.directory}",
        f"removed {paths.old}",
    ]
    assert _version(files, versions) == 2
    assert _month(files) == ["01"]


def test_a_kill_with_the_old_day_moved_aside_is_finished_by_the_next_reader(tmp_path: Path, versions) -> None:
    files, paths = _committed(tmp_path / "work", tmp_path / "v2")
    os.rename(files.directory, paths.old)  # journal step F2 done, F3 not: the day is absent
    assert _version(files, versions) is None
    read = read_layers(files, grid=tiny_region().fine)  # a reader finishes the switch
    assert read.provenance["model"]["version"] == "2"
    assert _version(files, versions) == 2
    assert _month(files) == [".01.old", "01"]  # readers remove nothing
    assert product_problems(files, tiny_region()) == []
    assert dayswitch.settle_day(files.directory) == [f"removed {paths.old}"]
    assert _month(files) == ["01"]


def test_cleanup_removes_dead_writers_leftovers_but_not_a_live_writers(tmp_path: Path, versions) -> None:
    files = write_version(tmp_path, 1)
    month = files.directory.parent
    dead = month / ".01.dead1234.staging"
    shutil.copytree(files.directory, dead)  # e.g. the old day after an exchange, not yet removed
    live = month / ".01.live5678.staging"
    live.mkdir()
    (files.directory / ".smprod-sm-1km_20240601_qa.tif.x1y2.part").write_bytes(b"half")  # old writers'
    (month / ".02.gone0000.staging").mkdir()  # another day's
    handle = os.open(live, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a writer still at work holds it
        done = dayswitch.settle_products(WorkLayout(tmp_path).products)
    finally:
        os.close(handle)
    assert done == [
        f"removed {dead}",
        f"removed {files.directory / '.smprod-sm-1km_20240601_qa.tif.x1y2.part'}",
        f"removed {month / '.02.gone0000.staging'}",
    ]
    assert _month(files) == [".01.live5678.staging", "01"]
    assert _version(files, versions) == 1
    write_version(tmp_path, 2)  # the next write of the day: the writer is gone now
    assert _month(files) == ["01"]


def test_a_block_that_raises_switches_nothing_and_leaves_nothing(tmp_path: Path) -> None:
    files = WorkLayout(tmp_path).product_files(DAY)
    with pytest.raises(RuntimeError), dayswitch.new_day(files.directory) as staging:
        (staging / "x.tif").write_bytes(b"partial")
        raise RuntimeError("disk went away")
    assert not files.directory.exists()
    assert _month(files) == []


def test_a_read_during_a_switch_is_read_again(tmp_path: Path, versions) -> None:
    files = write_version(tmp_path, 1)
    calls = []

    def read() -> str:
        first = files.provenance.read_text()
        if not calls:
            write_version(tmp_path / "elsewhere", 2)
            other = WorkLayout(tmp_path / "elsewhere").product_files(DAY).directory
            dayswitch.exchange(other, files.directory)  # a writer switches the day meanwhile
        calls.append(first)
        return first

    text = dayswitch.one_version(files.directory, read)
    assert len(calls) == 2 and '"version": "2"' in text


def test_no_leftover_of_a_switch_is_ever_served() -> None:
    from catalog.serve import PRODUCTS_PATH, is_published

    paths = DaySwitchPaths(Path("2024/06/01"))
    staging = paths.parent / f"{paths.staging_prefix}k3j9x_q1.staging"
    for leftover in (staging, paths.ready, paths.old):
        assert not is_published(f"{PRODUCTS_PATH}/{leftover.as_posix()}/smprod-sm-1km_20240601_qa.tif")
    assert is_published(f"{PRODUCTS_PATH}/{paths.directory.as_posix()}/smprod-sm-1km_20240601_qa.tif")


def test_a_leftover_that_cannot_be_removed_does_not_stop_the_write(
    tmp_path: Path, versions, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    files = write_version(tmp_path, 1)
    stuck = files.directory.parent / ".01.stuck000.staging"
    stuck.mkdir()
    remove = dayswitch._remove

    def refuse(path: Path) -> None:
        if Path(path) == stuck:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        remove(path)

    monkeypatch.setattr(dayswitch, "_remove", refuse)
    write_version(tmp_path, 2)
    assert _version(files, versions) == 2
    assert _month(files) == [".01.stuck000.staging", "01"]
    assert "not removed" in caplog.text and "Permission denied" in caplog.text
