"""Chaos at flow level: faults in the middle of a day's production, then a rerun, then the invariants.

Every fault runs ``smprod run --day D`` as an operator does (a child process against the package's
Prefect test server, on a copy of the small synthetic world with its own work directory and
database; tests/chaos/conftest.py), breaks it, reruns the day and calls
:func:`tests.chaos.consistency.assert_consistent` (published days pass the product check, the
catalog validates with checksums, no duplicate rows, no ``running`` orphans, no temporaries).

* SIGKILL of the production process in each stage (ingest, model, produce, publish, validate) of a
  day being made again (a newer SMAP release arrived): the ledger says when the stage started
  (the stage before it is recorded); publish is too short to aim at from outside (about 0.1 s),
  so strace kills the process on its first write to the catalog (``mkdir`` of the day's item
  folder, ``-P``). The killed run's ledger row says which stages it had finished: the kill
  landed in the stage named. Before the rerun the day is whole (the old version or the new);
  after it, the new one.
* PostgreSQL shut down like a crash (``pg_ctl stop -m immediate``) while the day is validated.
* A full disk: the products folder on a 1 MiB tmpfs, filled up before the day is made again.
* Two producers of one day started at once.

A kill during the renames of the day switch is tests/integration/test_day_switch_faults.py
(which ends with the same invariants).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from smprod import db
from smprod.layout import PRODUCT_ID
from smprod.ops import runs
from smprod.product.read import product_problems
from tests import strace
from tests.chaos.consistency import assert_consistent, leftovers
from tests.chaos.processes import STAGES, error_lines, output_of, start, wait_for_stage
from tests.day_versions import digests
from tests.e2e.flow_worlds import flow_world, fresh_database

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def _site(small_world, champion, database_url: str, root: Path) -> types.SimpleNamespace:
    site = flow_world(small_world, champion, database_url, root)
    site.database_url = database_url
    return site


def _migrated(pg_server, prefix: str) -> str:
    url = fresh_database(pg_server, prefix)
    db.upgrade(url)
    return url


def _produce(site: types.SimpleNamespace, day: date) -> str:
    """The rerun: the day's flow in this process (as ``smprod run --day`` runs it)."""
    from flows.daily import produce_one_day

    return produce_one_day(site.settings, day)


def new_smap_release(archive: Path, day: date) -> str:
    """A newer release of the day's SMAP granule in the archive (the same bytes under the next
    counter: the day's input key changes, so the day is made again); returns its release id."""
    newest = sorted(archive.rglob(f"SMAP_L3_SM_P_{day:%Y%m%d}_R*.h5"))[-1]
    match = re.search(r"_(R\d+)_(\d{3})\.h5$", newest.name)
    assert match is not None, newest
    release = f"{match[1]}_{int(match[2]) + 1:03d}"
    os.link(newest, newest.with_name(f"SMAP_L3_SM_P_{day:%Y%m%d}_{release}.h5"))
    return release


def _release(site: types.SimpleNamespace, day: date) -> str:
    return json.loads(site.layout.product_files(day).provenance.read_text())["smap_release"]


@pytest.fixture(scope="module")
def site(small_world, champion, pg_server, prefect_api, tmp_path_factory) -> types.SimpleNamespace:
    """A work directory with one day published (the day the kills interrupt being made again)."""
    site = _site(small_world, champion, _migrated(pg_server, "chaos"), tmp_path_factory.mktemp("chaos"))
    site.day = site.days[-3]
    assert _produce(site, site.day) == "succeeded"
    assert_consistent(site.layout.root, site.database_url)
    return site


# ------------------------------------------------------------------------- SIGKILL per stage


def _publish_killer(site: types.SimpleNamespace, day: date) -> tuple[str, ...]:
    """strace that kills the process on its first ``mkdir`` of the day's item folder (publish)."""
    item_dir = site.layout.catalog / PRODUCT_ID / f"{PRODUCT_ID}-{day:%Y%m%d}"
    assert item_dir.is_dir()  # published before: the mkdir is the exist_ok one of the item write
    injection = "inject=mkdir,mkdirat:signal=SIGKILL:when=1"
    return (str(strace.STRACE), "-f", "-qq", "-o", os.devnull, "-e", "trace=mkdir,mkdirat", "-P",
            str(item_dir), "-e", injection)  # fmt: skip


@pytest.mark.parametrize("stage", STAGES, ids=[f"sigkill-in-{stage}" for stage in STAGES])
def test_a_day_killed_in_any_stage_is_whole_and_made_by_the_rerun(site, prefect_api, stage, tmp_path):
    day, files = site.day, site.layout.product_files(site.day)
    release = new_smap_release(site.archive, day)
    log = tmp_path / "smprod.log"
    if stage == "publish":
        strace.need_strace()
        proc = start(site, prefect_api, log, "run", "--day", str(day), wrapper=_publish_killer(site, day))
        proc.wait(timeout=300)
    else:
        proc = start(site, prefect_api, log, "run", "--day", str(day))
        wait_for_stage(site.engine, day, stage, proc, log)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL), output_of(log)[-3000:]
    killed = runs.runs_of(site.engine, day)[-1]
    assert killed.status == "running"  # the process died: nothing closed it
    assert sorted(killed.stage_seconds, key=STAGES.index) == list(STAGES[: STAGES.index(stage)])

    assert product_problems(files, site.region) == []  # whole before the rerun: old or new
    assert _release(site, day) in (release, _previous(release))

    assert _produce(site, day) == "succeeded"
    assert_consistent(site.layout.root, site.database_url)
    assert _release(site, day) == release
    closed = runs.runs_of(site.engine, day)[-2]
    assert closed.id == killed.id and closed.status == "failed" and closed.error.startswith("abandoned")


def _previous(release: str) -> str:
    name, counter = release.rsplit("_", 1)
    return f"{name}_{int(counter) - 1:03d}"


# ------------------------------------------------------------------------ two producers


def test_two_producers_of_one_day_leave_one_whole_day(site, prefect_api, tmp_path):
    """Both started at once: one takes the day's lock and makes it; the other is refused at once
    with a message that says so (exit 1), or, had it come after, finds the day current."""
    day = site.days[-4]
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    procs = [start(site, prefect_api, log, "run", "--day", str(day)) for log in logs]
    codes = [proc.wait(timeout=300) for proc in procs]
    outputs = [output_of(log) for log in logs]
    assert not any("Traceback" in output for output in outputs), outputs
    winner = codes.index(0)
    loser_code, loser = codes[1 - winner], outputs[1 - winner]
    assert f"{day}: succeeded" in outputs[winner]
    refused = f"error: {day} is being produced by another run right now; try again later"
    assert (loser_code, refused in error_lines(loser)) == (1, True) or (
        loser_code == 0 and f"{day}: skipped" in loser
    ), loser[-3000:]
    assert [r.status for r in runs.runs_of(site.engine, day)] in (["succeeded"], ["succeeded", "skipped"])
    assert_consistent(site.layout.root, site.database_url)


# ---------------------------------------------------------------- PostgreSQL crash mid-run


def test_postgresql_crashing_during_validate_ends_clearly_and_the_rerun_recovers(
    small_world, champion, stoppable_postgres, prefect_api, tmp_path
):
    from pgserver._commands import pg_ctl

    url = stoppable_postgres.database_url("smprod")
    site = _site(small_world, champion, url, tmp_path)
    day = site.days[-3]
    log = tmp_path / "smprod.log"
    proc = start(site, prefect_api, log, "run", "--day", str(day))
    wait_for_stage(site.engine, day, "validate", proc, log)
    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=stoppable_postgres.pgdata, user=user)  # a crash
    crashed = time.monotonic()
    proc.wait(timeout=300)
    took = time.monotonic() - crashed

    output = output_of(log)
    assert proc.returncode == 3, output[-3000:]
    assert took < 30, f"{took:.0f} s after the crash: retried instead of failing clearly"
    assert "Traceback" not in output
    [error] = error_lines(output)
    assert error.startswith(
        f"error: database 'smprod' on {stoppable_postgres.pgdata} as postgres unavailable"
    )

    stoppable_postgres.up_postgres()
    site.engine.dispose()  # its pooled connections died with the server
    assert _produce(site, day) == "succeeded"
    assert_consistent(site.layout.root, url)
    first, rerun = runs.runs_of(site.engine, day)
    assert first.status == "failed" and "DatabaseError" in (first.error or "")
    assert rerun.status == "succeeded"


# ---------------------------------------------------------------------------- full disk

#: The tmpfs for the products: room for a day (about 170 kB) and its staging copy, no more.
TMPFS_SIZE = "1m"
#: What the filler leaves free: less than one COG of the day.
FREE_AFTER_FILL = 16 * 1024


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[None]:
    """A tmpfs of ``size`` mounted on ``path`` (root only; skipped where mounting is refused,
    a failure under ``SMPROD_REQUIRE_TMPFS=1``, as ``.ci/run`` sets)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        problem = f"cannot mount a tmpfs here: {mounted.stderr.strip()}"
        if os.environ.get("SMPROD_REQUIRE_TMPFS") == "1":
            pytest.fail(problem + " (SMPROD_REQUIRE_TMPFS=1 makes this a failure)")
        pytest.skip(problem)
    try:
        yield
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=True)


def _fill(directory: Path, leave: int) -> Path:
    stat = os.statvfs(directory)
    filler = directory / "filler"
    filler.write_bytes(b"\0" * max(stat.f_bavail * stat.f_frsize - leave, 0))
    return filler


def test_a_full_disk_fails_naming_the_path_keeps_the_day_and_the_rerun_makes_it(
    small_world, champion, pg_server, prefect_api, tmp_path
):
    site = _site(small_world, champion, _migrated(pg_server, "chaos_full"), tmp_path)
    day, files = site.days[-3], site.layout.product_files(site.days[-3])
    with tmpfs(site.layout.products, TMPFS_SIZE):
        assert _produce(site, day) == "succeeded"
        published = digests(files)
        filler = _fill(site.layout.products, FREE_AFTER_FILL)
        release = new_smap_release(site.archive, day)
        log = tmp_path / "smprod.log"
        proc = start(site, prefect_api, log, "run", "--day", str(day))
        proc.wait(timeout=300)
        output = output_of(log)

        assert proc.returncode == 1, output[-3000:]
        assert "Traceback" not in output, output[-5000:]
        [error] = error_lines(output)
        assert "No space left on device" in error and str(site.layout.products) in error, error
        assert digests(files) == published  # the day as it was
        assert product_problems(files, site.region) == [] and leftovers(site.layout) == []
        failed = runs.runs_of(site.engine, day)[-1]
        assert failed.status == "failed" and "No space left on device" in (failed.error or "")

        filler.unlink()
        assert _produce(site, day) == "succeeded"
        assert_consistent(site.layout.root, site.database_url)
        assert _release(site, day) == release
