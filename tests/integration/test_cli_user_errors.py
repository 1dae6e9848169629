"""User errors, run as a user runs them: exit code 2, one message naming what is wrong and the
fix, no traceback, and nothing started or written (no embedded stack, no day inputs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smprod.grids.ease import region_from_bbox
from smprod.layout import WorkLayout
from smprod.workdir import claim_work_region
from tests.cli import refused as _refused
from tests.cli import smprod as _smprod

BBOX = "-100,34,-98,35.5"
OTHER_BBOX = "-96,34,-94,35.5"


@pytest.fixture
def workdir(tmp_path) -> Path:
    return tmp_path / "work"


@pytest.fixture
def archive(tmp_path) -> Path:
    path = tmp_path / "archive"
    path.mkdir()
    return path


def _nothing_started(workdir: Path) -> None:
    assert not (workdir / "stack").exists(), "PostgreSQL was started for a user error"
    assert not (workdir / "inputs").exists()


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            b'workdir = "/srv/smprod"\nbbox = = 3\n',
            ("is not valid TOML: Invalid value (at line 2, column 8)", "fix the file there"),
        ),
        (
            b'workdir = "/srv/smprod"\nbbox = [-100, 34, -98\n',
            ("is not valid TOML: Unclosed array (at end of document), in what starts on line 2",),
        ),
        (
            b'workdir = "/srv/d\xe9p\xf4t"\n',
            ("is not UTF-8 text: byte 0xe9 on line 1", "save the file as UTF-8"),
        ),
        (
            b"validation_windows = []\n",
            (
                "setting 'validation_windows' (SMPROD_VALIDATION_WINDOWS, or validation_windows in",
                "[30, 90, 365]",
            ),
        ),
    ],
)
def test_a_bad_config_file_is_named_with_its_line_and_fix(tmp_path, workdir, text, fragments):
    toml = tmp_path / "smprod.toml"
    toml.write_bytes(text)
    result = _smprod("validate", "--config", str(toml), "--workdir", str(workdir))
    _refused(result, str(toml), *fragments)
    _nothing_started(workdir)


def test_the_config_file_from_the_environment_is_named_too(tmp_path, workdir):
    toml = tmp_path / "smprod.toml"
    toml.write_text("bbox = [\n")
    result = _smprod(
        "train", "--end", "2024-05-30", "--workdir", str(workdir), env={"SMPROD_CONFIG": str(toml)}
    )
    _refused(result, f"config file {toml} is not valid TOML")
    _nothing_started(workdir)


def test_validate_end_before_start(workdir, archive):
    result = _smprod(
        "validate", "--start", "2024-06-09", "--end", "2024-06-01", "--workdir", str(workdir),
        "--archive", str(archive),
    )  # fmt: skip
    _refused(result, "--start 2024-06-09 is after --end 2024-06-01: give a --start on or before --end")
    _nothing_started(workdir)


def test_backfill_end_before_start(workdir, archive):
    result = _smprod("backfill", "--start", "2024-06-09", "--end", "2024-06-01", "--workdir", str(workdir))
    _refused(result, "--start 2024-06-09 is after --end 2024-06-01")
    _nothing_started(workdir)


def test_swapped_longitudes_are_called_swapped(workdir, archive):
    result = _smprod(
        "ingest", "--date", "2024-05-10", "--bbox=-98,34,-100,35.5", "--workdir", str(workdir),
        "--archive", str(archive),
    )  # fmt: skip
    message = _refused(
        result,
        "setting 'bbox'",
        "minlon -98 > maxlon -100: the longitude pair looks swapped",
        "e.g. -100,34,-98,35.5",
    )
    assert "antimeridian" not in message
    _nothing_started(workdir)


@pytest.mark.parametrize("command", [["train", "--end", "2024-05-30"], ["ingest", "--date", "2024-05-10"]])
def test_a_missing_archive_folder_is_named(tmp_path, workdir, command):
    missing = tmp_path / "no-such-archive"
    result = _smprod(*command, "--archive", str(missing), f"--bbox={BBOX}", "--workdir", str(workdir))
    _refused(result, f"archive folder {missing} does not exist", "--archive, SMPROD_ARCHIVE")
    _nothing_started(workdir)
    assert not (workdir / "region.json").exists()  # a refused command does not claim the work directory


@pytest.mark.parametrize(
    ("args", "env", "wanted"),
    [
        ([f"--bbox={OTHER_BBOX}"], {}, "(SPL3SMP, 5 x 6 cells of 36 km)"),
        ([f"--bbox={BBOX}"], {"SMPROD_COARSE_PRODUCT": "SPL3SMP_E"}, "(SPL3SMP_E, "),
    ],
)
def test_another_region_is_refused_and_nothing_is_overwritten(workdir, archive, args, env, wanted):
    layout = WorkLayout(workdir)
    recorded = claim_work_region(layout, region_from_bbox((-100.0, 34.0, -98.0, 35.5), 36), "SPL3SMP")
    before = layout.region_file.read_bytes()
    result = _smprod(
        "ingest", "--date", "2024-05-10", *args, "--workdir", str(workdir), "--archive", str(archive), env=env
    )
    _refused(
        result,
        f"work directory {workdir} is for the region {recorded.describe()}",
        f"recorded in {layout.region_file}",
        wanted,
        "Use another --workdir (SMPROD_WORKDIR) for that region",
        "nothing was changed",
    )
    _nothing_started(workdir)
    assert layout.region_file.read_bytes() == before
    assert json.loads(before)["coarse_product"] == "SPL3SMP"
