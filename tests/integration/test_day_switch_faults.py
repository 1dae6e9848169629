"""A product writer killed (SIGKILL) at every step of a day's switch, then the day rerun.

Each case starts from a published day (version 1, its STAC item in the catalog) and runs a child
process that writes version 2 of the day (``python -m tests.day_versions``: a new SMAP release,
every file different) under ``strace``, which kills it on entry to the N-th call of one system
call (``-e inject=SYSCALL:signal=SIGKILL:when=N``: the call is not made). For the renames of the
switch (the ``renameat2`` exchange, the ``rename`` of a first write, the three ``rename`` of the
fallback journal) N = 1, 2, ... until the write completes: a kill before every rename, and after
the last. Around them, a kill before the last ``fsync`` ahead of the switch (the new directory's),
before the ``fsync`` of the month directory after it, and before the first removal of the old
day's files and of its directory (a child costs over a second, most of it imports, so these are
chosen points, not every fsync of every file: those all come before the switch, like the first
one here). The fallback journal is the real one: strace makes every ``renameat2`` fail with
``EINVAL``, as a filesystem without ``RENAME_EXCHANGE`` answers.

After each kill: nothing the file server would serve is a leftover, a reader (``product_problems``)
finds no problem and the day is wholly version 1 or wholly version 2 (checksums of all five files),
never a mix; the catalog validates with checksums while the day is the one its item describes.
After the rerun (write version 2 again, publish): the day is version 2, nothing is left beside it,
and the catalog validates with checksums.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from catalog.publish import publish_day
from catalog.serve import PRODUCTS_PATH, is_published
from catalog.validate import validate_catalog
from smprod.layout import DaySwitchPaths, ProductFiles, WorkLayout
from smprod.product.read import product_problems
from tests import strace
from tests.catalog_days import tiny_region
from tests.chaos.consistency import assert_consistent
from tests.day_versions import DAY, digests, write_version
from tests.strace import STRACE

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: A bound on N, far above the most calls of one kind a switch makes (7 fsyncs).
MAX_KILL_POINTS = 20


@pytest.fixture(scope="module")
def need_strace() -> None:
    strace.need_strace()


@dataclass(frozen=True)
class Case:
    """Which write is killed, and at which system call."""

    name: str
    syscall: str
    points: tuple[int, ...] = ()  # the N to kill at; none: 1, 2, ... until the write completes
    first_write: bool = False  # no day yet (else version 1 is published)
    journal: bool = False  # renameat2 refused with EINVAL: the fallback journal

    def command(self, workdir: Path, n: int) -> list[str]:
        traced = f"renameat2,{self.syscall}" if self.journal else self.syscall
        injections = ["-e", f"inject={self.syscall}:signal=SIGKILL:when={n}"]
        if self.journal:
            injections += ["-e", "inject=renameat2:error=EINVAL"]
        child = [sys.executable, "-m", "tests.day_versions", str(workdir), "2"]
        return [str(STRACE), "-f", "-qq", "-o", os.devnull, "-e", f"trace={traced}", *injections, *child]


#: The five files are fsynced (1-5), then the new directory (6), then the month after the switch (7).
FSYNC_NEW_DIRECTORY, FSYNC_AFTER_SWITCH = 6, 7
CASES = [
    Case("rewrite: the exchange", "renameat2"),
    Case("rewrite: before and after the exchange", "fsync", (FSYNC_NEW_DIRECTORY, FSYNC_AFTER_SWITCH)),
    Case("rewrite: removing the old day's files", "unlinkat", (1,)),
    Case("rewrite: removing the old day's directory", "rmdir", (1,)),
    Case("first write: the rename onto nothing", "rename", first_write=True),
    Case("no RENAME_EXCHANGE: the journal's renames", "rename", journal=True),
    Case("no RENAME_EXCHANGE: removing the old day moved aside", "rmdir", (1,), journal=True),
]


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, str | None]]:
    root = tmp_path_factory.mktemp("references")
    return {v: digests(write_version(root / str(v), v)) for v in (1, 2)}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work directory with version 1 of the day written and published."""
    root = tmp_path_factory.mktemp("published")
    write_version(root, 1)
    publish_day(WorkLayout(root), tiny_region(), DAY)
    return root


def _version(files: ProductFiles, references: dict[int, dict[str, str | None]]) -> int | None:
    now = digests(files)
    return next((v for v, expected in references.items() if now == expected), None)


def _served_leftovers(layout: WorkLayout) -> list[str]:
    """URL paths of the file server's ``/products/`` that name a leftover and would be served."""
    paths = DaySwitchPaths.of(layout.product_files(DAY))
    urls = []
    for leftover in paths.leftovers():
        for path in [leftover, *(leftover.rglob("*") if leftover.is_dir() else [])]:
            urls.append(f"{PRODUCTS_PATH}/{path.relative_to(layout.products).as_posix()}")
    return [url for url in urls if is_published(url)]


def _kill_and_rerun(case: Case, workdir: Path, n: int, references) -> tuple[str, int | None, int, str]:
    """One kill point: (outcome, version found on disk before any reader, version readers see,
    the leftovers beside the day)."""
    layout, region = WorkLayout(workdir), tiny_region()
    files = layout.product_files(DAY)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    child = subprocess.run(case.command(workdir, n), env=env, capture_output=True, text=True, timeout=120)
    assert child.returncode in (0, -9, 137), child.stderr  # 137: strace's own exit after the kill
    outcome = "completed" if child.returncode == 0 else "killed"
    on_disk = _version(files, references)
    assert _served_leftovers(layout) == []
    left = ", ".join(re.sub(r"\.01\.\w+\.staging", ".01.<random>.staging", path.name)
                     for path in DaySwitchPaths.of(files).leftovers()) or "nothing"  # fmt: skip
    problems = product_problems(files, region)
    seen = _version(files, references)
    before = None if case.first_write else 1  # the day before the write: none, or version 1
    assert seen in (before, 2), f"{case.name}, kill {n}: the day is a mix {digests(files)}"
    assert (problems == []) == (seen is not None), problems  # absent only where it never was
    if outcome == "completed":
        assert seen == 2 and DaySwitchPaths.of(files).leftovers() == []
    if not case.first_write:  # the item describes version 1 until the rerun publishes again
        assert validate_catalog(layout.catalog, checksums=True).ok == (seen == 1), (case.name, n)

    write_version(workdir, 2)  # the rerun: produce the day again, then publish it
    publish_day(layout, region, DAY)
    assert _version(files, references) == 2
    assert sorted(p.name for p in files.directory.parent.iterdir()) == ["01"]
    assert_consistent(workdir, region=region)  # the chaos suite's invariants (no database here)
    return outcome, on_disk, seen, left


@pytest.mark.usefixtures("need_strace")
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_writer_killed_at_every_step_leaves_a_whole_day(
    case: Case, published: Path, references, tmp_path: Path
) -> None:
    rows = []
    for n in case.points or range(1, MAX_KILL_POINTS + 1):
        workdir = tmp_path / f"kill{n}"
        if case.first_write:
            workdir.mkdir()
        else:
            shutil.copytree(published, workdir, symlinks=True)
        outcome, on_disk, seen, left = _kill_and_rerun(case, workdir, n, references)
        rows.append((n, outcome, on_disk, seen, left))
        if outcome == "completed":
            break
    print(f"\n{case.name} [{case.syscall}]")
    for n, outcome, on_disk, seen, left in rows:
        print(f"  kill {n}: {outcome}; on disk: {_named(on_disk)}; readers see: {_named(seen)}; left: {left}")
    if case.points:
        assert all(outcome == "killed" for _, outcome, *_ in rows), "a chosen kill point was not reached"
    else:
        assert rows[-1][1] == "completed", "the write never completed within the kill points"
        assert len(rows) >= 2  # at least one kill landed in the switch's steps
    seen_versions = [seen or 0 for _, _, _, seen, _ in rows]
    assert seen_versions == sorted(seen_versions), "a later kill left an older day: not one step"


def _named(version: int | None) -> str:
    return {None: "absent", 1: "old whole", 2: "new whole"}[version]


#: Writes version 1 of the day in a child that stops with its staging directory complete (before
#: the fsyncs and the switch) until told to go on.
PAUSED_WRITER = """
import sys
from pathlib import Path
from smprod.product import dayswitch
from tests.day_versions import write_version

seal = dayswitch._seal

def paused(staging):
    print("staged", flush=True)
    sys.stdin.readline()
    seal(staging)

dayswitch._seal = paused
write_version(Path(sys.argv[1]), 1)
"""


def test_two_producers_of_one_day_leave_one_whole_day(published: Path, references, tmp_path: Path) -> None:
    """A second writer of the day runs while the first is half-way (the flows' day lock prevents
    it; the switch must stay safe without it): it must not take the first one's staging directory
    for a leftover, and the day ends up wholly the version switched last."""
    workdir = tmp_path / "work"
    shutil.copytree(published, workdir, symlinks=True)
    files = WorkLayout(workdir).product_files(DAY)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-c", PAUSED_WRITER, str(workdir)]
    with subprocess.Popen(
        command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as first:
        assert first.stdin is not None and first.stdout is not None and first.stderr is not None
        assert first.stdout.readline() == "staged\n", first.stderr.read()
        write_version(workdir, 2)  # the second producer, start to end meanwhile
        assert _version(files, references) == 2
        assert len(DaySwitchPaths.of(files).stagings()) == 1  # the first one's, left alone
        first.stdin.write("go\n")
        first.stdin.close()
        assert first.wait(timeout=60) == 0, first.stderr.read()
    assert _version(files, references) == 1  # switched last
    assert DaySwitchPaths.of(files).leftovers() == []
    assert product_problems(files, tiny_region()) == []
