"""A census of bad input, run as a user runs ``smprod``: every kind ends clearly.

A user error (a bad setting, option, file or folder) exits 2 with one message naming the
setting, option or file and the problem (and, where there is one, the fix); a bad granule is
quarantined (moved to ``<workdir>/quarantine/`` with a ``.reason.txt``, recorded in the granule
ledger, named in the output) and the run goes on; a bad static layer or station file is named
in the output and the run goes on; a required granule that cannot be read stops its day (exit
1) naming it. Never a traceback. The test ids name the kinds.

Kinds covered elsewhere, not repeated here (33; with the 27 here, 60 kinds):

- tests/integration/test_cli_user_errors.py (as a user runs it: exit 2, no traceback):
  ``test_a_bad_config_file_is_named_with_its_line_and_fix`` [text0] TOML syntax error (line and
  column), [text1] TOML construct left open (its first line), [text2] smprod.toml not UTF-8,
  [text3] ``validation_windows = []``; ``test_the_config_file_from_the_environment_is_named_too``
  (a broken file named by SMPROD_CONFIG); ``test_validate_end_before_start`` and
  ``test_backfill_end_before_start`` (--end before --start); ``test_swapped_longitudes_are_called_swapped``;
  ``test_a_missing_archive_folder_is_named``; ``test_another_region_is_refused_and_nothing_is_overwritten``
  [args0] a work directory of another region, [args1] of another coarse product.
- tests/unit/test_config.py (the ConfigError message; the CLI maps every ConfigError to exit 2,
  tests/unit/flows/test_cli_exit_codes.py): ``test_invalid_setting_is_named`` a bbox of 3
  numbers, across the antimeridian, beyond the EASE-Grid latitudes, an unknown coarse_product,
  training_window_days below 7, terrain_bands out of 1..5, a negative gap_correction_km, a cron
  schedule without 5 fields; ``test_reversed_bbox_pairs_say_what_is_wrong`` (swapped latitudes);
  ``test_unknown_key_in_file_is_refused`` (a misspelt setting in smprod.toml);
  ``test_missing_config_file_is_a_config_error``.
- tests/integration/test_ingest.py ``test_ingest_writes_the_contract_and_quarantines_bad_granules``:
  a truncated SMAP HDF5, a garbage MODIS HDF4, a MODIS tile whose corners are another tile's, an
  IMERG file without a precipitation variable (all quarantined, the day ingested);
  ``test_missing_smap_of_the_day_names_what_is_missing`` (no SMAP granule of the day).
- tests/integration/test_degraded_inputs.py: the day's only IMERG run truncated (quarantined,
  precipitation filled and flagged), an unreadable Final with a Late run (the Late run used),
  an IMERG run without a value over the region (passed over), an all-fill SMAP day (fails
  naming the coverage and the setting, or published flagged).
- tests/unit/inputs/readers: ISMN files with a bad metadata line or record
  (``test_ismn.py::test_malformed_files``), an ISMN CEOP combined file (refused naming the
  download option), a static GeoTIFF without a CRS (``test_static.py::test_bad_files``).
"""

from __future__ import annotations

import os
import shutil
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from fnmatch import fnmatch
from pathlib import Path

import h5py
import pytest
import sqlalchemy as sa

from smprod import db
from smprod.inputs.ledger import REASON_SUFFIX
from smprod.synthetic.archive import write_archive
from tests.cli import refused, smprod
from tests.e2e.flow_worlds import fresh_database

pytestmark = pytest.mark.integration

BBOX = "-98.0,35.0,-96.8,35.7"  # 3 x 4 cells of 36 km, as tests/conftest.py SMALL_BBOX
START = date(2024, 6, 1)
NDAYS = 9
#: Its SMAP lag days D-7 and D-3, IMERG Final of D-2 and D-1 (a Late run of D-1 too) and the
#: MOD13A2 composite covering it are in the archive.
DAY = START + timedelta(days=NDAYS - 2)


# ------------------------------------------------------------------------- user errors (exit 2)


@dataclass(frozen=True)
class UserError:
    """A command with one bad setting, option, file or folder; the message must hold ``fragments``
    (``{tmp}`` stands for the test's folder)."""

    kind: str
    args: tuple[str, ...]
    fragments: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    toml: str | None = None  # written to {tmp}/smprod.toml and given with --config
    prepare: Callable[[Path], None] | None = None  # makes the bad file or folder under {tmp}


def _ingest(*extra: str) -> tuple[str, ...]:
    return ("ingest", "--date", str(DAY), "--workdir", "{tmp}/work", "--archive", "{tmp}/archive",
            f"--bbox={BBOX}", *extra)  # fmt: skip


def _archive(tmp: Path) -> None:
    (tmp / "archive").mkdir()


def _corrupt_region_record(tmp: Path) -> None:
    _archive(tmp)
    (tmp / "work").mkdir()
    (tmp / "work" / "region.json").write_text('{"coarse_product": "SPL3SMP", "bbox": [-98, 35,')


def _workdir_file(tmp: Path) -> None:
    _archive(tmp)
    (tmp / "work").write_text("not a folder\n")


def _archive_file(tmp: Path) -> None:
    (tmp / "archive").write_text("not a folder\n")


def _config_folder(tmp: Path) -> None:
    _archive(tmp)
    (tmp / "smprod.toml").mkdir()


USER_ERRORS = [
    UserError("min_smap_coverage-above-1", _ingest(),
              ("setting 'min_smap_coverage' (SMPROD_MIN_SMAP_COVERAGE)", "less than or equal to 1", "'1.5'"),
              env={"SMPROD_MIN_SMAP_COVERAGE": "1.5"}, prepare=_archive),
    UserError("low_smap_coverage-unknown-word", _ingest(),
              ("setting 'low_smap_coverage' (SMPROD_LOW_SMAP_COVERAGE, or low_smap_coverage in",
               "{tmp}/smprod.toml)",
               "'fail' or 'publish'", "'maybe'"),
              toml='low_smap_coverage = "maybe"\n', prepare=_archive),
    UserError("training_mode-unknown-word", _ingest(),
              ("setting 'training_mode' (SMPROD_TRAINING_MODE)", "'near-real-time' or 'reanalysis'"),
              env={"SMPROD_TRAINING_MODE": "sometimes"}, prepare=_archive),
    UserError("conservation_km-not-9-or-36", _ingest(),
              ("setting 'conservation_km' (SMPROD_CONSERVATION_KM)", "9 or 36", "12"),
              env={"SMPROD_CONSERVATION_KM": "12"}, prepare=_archive),
    UserError("conservation_km-finer-than-smap", _ingest(),
              ("conservation_km = 9 is finer than SPL3SMP's 36 km cells: use 36",
               "(settings from {tmp}/smprod.toml, the environment or the options)"),
              toml="conservation_km = 9\n", prepare=_archive),
    UserError("reanalysis-block-longer-than-window", _ingest(),
              ("reanalysis_block_days = 30 is longer than the training window (training_window_days = 10)",),
              env={"SMPROD_TRAINING_WINDOW_DAYS": "10", "SMPROD_REANALYSIS_BLOCK_DAYS": "30"},
              prepare=_archive),
    UserError("bbox-not-numbers", ("ingest", "--date", str(DAY), "--workdir", "{tmp}/work", "--archive",
                                   "{tmp}/archive", "--bbox=a,b,c,d"),
              ("setting 'bbox' (SMPROD_BBOX)", "could not convert string to float: 'a'"), prepare=_archive),
    UserError("earthdata-not-a-boolean", _ingest(),
              ("setting 'earthdata' (SMPROD_EARTHDATA)", "valid boolean", "'maybe'"),
              env={"SMPROD_EARTHDATA": "maybe"}, prepare=_archive),
    UserError("database_url-not-a-url", _ingest("--database-url", "db.example/smprod"),
              ("setting 'database_url' (SMPROD_DATABASE_URL)", "not a database URL",
               "postgresql+psycopg://USER[:PASSWORD]@HOST[:PORT]/DB"), prepare=_archive),
    UserError("config-file-is-a-folder", ("ingest", "--date", str(DAY), "--config", "{tmp}/smprod.toml"),
              ("config file {tmp}/smprod.toml cannot be read: Is a directory",), prepare=_config_folder),
    UserError("day-not-a-date", ("run", "--day", "2024-13-01", "--workdir", "{tmp}/work"),
              ("--day '2024-13-01' is not a date YYYY-MM-DD",)),
    UserError("date-option-not-a-date", ("ingest", "--date", "2024-02-30"),
              ("Invalid value for '--date'", "'2024-02-30' does not match the")),
    UserError("option-misspelt", ("ingest", "--date", str(DAY), "--bboxx=-98,35,-97,36"),
              ("No such option: --bboxx", "--bbox")),
    UserError("region-record-corrupt", _ingest(),
              ("{tmp}/work/region.json cannot be read", "it records the region this work directory is for",
               "restore it"), prepare=_corrupt_region_record),
    UserError("workdir-is-a-file", _ingest(),
              ("work directory {tmp}/work is not a folder (setting workdir: --workdir, SMPROD_WORKDIR",),
              prepare=_workdir_file),
    UserError("archive-is-a-file", _ingest(),
              ("archive folder {tmp}/archive is not a folder (setting archive: --archive, SMPROD_ARCHIVE",),
              prepare=_archive_file),
]  # fmt: skip


@pytest.mark.parametrize("case", USER_ERRORS, ids=[case.kind for case in USER_ERRORS])
def test_a_user_error_exits_2_naming_what_is_wrong(case: UserError, tmp_path: Path) -> None:
    def filled(text: str) -> str:
        return text.replace("{tmp}", str(tmp_path))

    if case.prepare is not None:
        case.prepare(tmp_path)
    args = [filled(arg) for arg in case.args]
    if case.toml is not None:
        (tmp_path / "smprod.toml").write_text(case.toml)
        args += ["--config", str(tmp_path / "smprod.toml")]
    result = smprod(*args, env=case.env)
    refused(result, *(filled(f) for f in case.fragments))
    assert not (tmp_path / "work" / "inputs").exists()  # nothing was done
    assert not (tmp_path / "work" / "stack").exists()  # no service was started for it


# ------------------------------------------------------------------- bad granules: quarantined


@dataclass(frozen=True)
class BadGranule:
    """A granule of the archive spoiled in one way; ingest must quarantine it with ``reason``."""

    kind: str
    pattern: str  # glob below the archive, matching one file
    spoil: Callable[[Path], None]
    reason: str


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(5000))


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # as a download cut half-way


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _login_page(path: Path) -> None:
    path.write_text("<!DOCTYPE html><html><head><title>Earthdata Login</title></head><body></body></html>\n")


def _without_pm(path: Path) -> None:
    with h5py.File(path, "a") as f:
        del f["Soil_Moisture_Retrieval_Data_PM"]


def _doy(day: date) -> str:
    return f"A{day:%Y}{day.timetuple().tm_yday:03d}"


def _composite_of(day: date) -> str:
    """The MOD13A2 16-day composite that covers ``day`` (composites start on day 1, 17, 33, ...)."""
    doy = day.timetuple().tm_yday
    return f"A{day:%Y}{doy - (doy - 1) % 16:03d}"


BAD_GRANULES = [
    BadGranule("smap-hdf5-garbage", f"smap/SMAP_L3_SM_P_{DAY - timedelta(days=3):%Y%m%d}_*.h5", _garbage,
               "not a readable HDF5 file"),
    BadGranule("smap-hdf5-without-pm-group", f"smap/SMAP_L3_SM_P_{DAY - timedelta(days=7):%Y%m%d}_*.h5",
               _without_pm, "soil_moisture_pm"),
    BadGranule("modis-lst-hdf4-truncated", f"modis/MOD11A1/MOD11A1.{_doy(DAY)}.h10v05.*.hdf", _truncated,
               "not a readable HDF4 file"),
    BadGranule("modis-vi-hdf4-garbage", f"modis/MOD13A2/MOD13A2.{_composite_of(DAY)}.h09v05.*.hdf", _garbage,
               "not a readable HDF4 file"),
    BadGranule("modis-albedo-empty-file", f"modis/MCD43A3/MCD43A3.{_doy(DAY)}.h09v05.*.hdf", _empty,
               "not a readable HDF4 file"),
    BadGranule("modis-landcover-hdf4-truncated", "modis/MCD12Q1/MCD12Q1.*.h10v05.*.hdf", _truncated,
               "not a readable HDF4 file"),
    BadGranule("imerg-netcdf-empty-file",
               f"imerg/3B-DAY.MS.MRG.3IMERG.{DAY - timedelta(days=1):%Y%m%d}-*.nc4", _empty,
               "not a readable netCDF-4/HDF5 file"),
    BadGranule("imerg-netcdf-is-a-login-page",
               f"imerg/3B-DAY.MS.MRG.3IMERG.{DAY - timedelta(days=2):%Y%m%d}-*.nc4", _login_page,
               "not a readable netCDF-4/HDF5 file"),
]  # fmt: skip


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad_inputs") / "archive"
    write_archive(root, START, NDAYS, tuple(float(v) for v in BBOX.split(",")), 36, seed=5)
    return root


def _spoiled_copy(archive: Path, where: Path) -> Path:
    copy = where / "archive"
    shutil.copytree(archive, copy, copy_function=os.link)
    for bad in BAD_GRANULES:
        [path] = copy.glob(bad.pattern)
        _replace(path, bad.spoil)
    _replace(copy / "static" / "sand.tif", lambda p: p.write_text("not a GeoTIFF\n"))
    [station] = copy.glob("insitu/*/station01/*.stm")
    _replace(station, lambda p: p.write_text("garbage line\n2024/06/01 00:00 0.2 G M\n"))
    return copy


def _replace(path: Path, spoil: Callable[[Path], None]) -> None:
    """Spoil a private copy: the hard link to the module's archive is replaced first."""
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)
    spoil(path)


@pytest.fixture(scope="module")
def ingested(archive, pg_server, tmp_path_factory) -> types.SimpleNamespace:
    """``smprod ingest --date DAY`` once, on an archive with every bad granule above."""
    root = tmp_path_factory.mktemp("bad_granules")
    url = fresh_database(pg_server, "bad_inputs")
    db.upgrade(url)
    spoiled = _spoiled_copy(archive, root)
    args = ("--workdir", str(root / "work"), "--archive", str(spoiled), f"--bbox={BBOX}")
    result = smprod("ingest", "--date", str(DAY), *args, "--database-url", url)
    with db.make_engine(url).connect() as conn:
        query = sa.text("SELECT granule_id, status, reason FROM granules")
        rows = {row.granule_id: row for row in conn.execute(query)}
    return types.SimpleNamespace(
        result=result, rows=rows, quarantine=root / "work" / "quarantine", archive=spoiled, args=args, url=url
    )


def test_the_day_is_ingested_around_its_bad_granules(ingested) -> None:
    assert ingested.result.returncode == 0, ingested.result.stdout + ingested.result.stderr
    assert "Traceback" not in ingested.result.stdout + ingested.result.stderr
    assert f"ingested {DAY}: " in ingested.result.stdout


@pytest.mark.parametrize("bad", BAD_GRANULES, ids=[bad.kind for bad in BAD_GRANULES])
def test_a_bad_granule_is_quarantined_recorded_and_named(ingested, bad: BadGranule) -> None:
    [row] = [row for granule, row in ingested.rows.items() if fnmatch(granule, Path(bad.pattern).name)]
    assert row.status == "quarantined" and bad.reason in row.reason, row
    assert (ingested.quarantine / row.granule_id).exists()
    assert not list(ingested.archive.glob(bad.pattern))  # moved out of the archive
    reason = (ingested.quarantine / (row.granule_id + REASON_SUFFIX)).read_text()
    assert reason.startswith(row.granule_id) and bad.reason in reason
    assert f"  quarantined {row.granule_id}: {row.reason}" in ingested.result.stdout


def test_a_bad_static_layer_is_named_and_the_day_goes_on(ingested) -> None:
    """Static maps are not granules (every day needs them): named as missing, never quarantined."""
    sand = ingested.archive / "static" / "sand.tif"
    assert f"  missing sand: {sand}: not a readable GeoTIFF" in ingested.result.stdout
    assert sand.exists() and not (ingested.quarantine / "sand.tif").exists()


def test_a_bad_station_file_is_named_and_validation_goes_on(ingested) -> None:
    result = smprod(
        "validate", "--start", str(DAY), "--end", str(DAY), "--no-mlflow", *ingested.args,
        env={"SMPROD_DATABASE_URL": ingested.url},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    [station] = ingested.archive.glob("insitu/*/station01/*.stm")
    assert "1 unreadable" in result.stdout
    assert f"  unreadable: {station}: not an ISMN metadata line" in result.stdout


def test_an_unreadable_smap_granule_of_the_day_stops_the_day_naming_it(ingested) -> None:
    day = DAY - timedelta(days=1)
    [smap] = ingested.archive.glob(f"smap/SMAP_L3_SM_P_{day:%Y%m%d}_*.h5")
    _replace(smap, _garbage)
    result = smprod("ingest", "--date", str(day), *ingested.args, "--database-url", ingested.url)
    message = refused(result, f"no valid SPL3SMP granule for {day}", smap.name, code=1)
    assert "not a readable HDF5 file" in message
    assert (ingested.quarantine / (smap.name + REASON_SUFFIX)).exists()
