"""Ingest one product day: find, fetch, read and grid its granules; write the day's inputs.

For a day D (design, "Data flow" 1-3) the granules needed are:

- SMAP (``SPL3SMP`` or ``SPL3SMP_E``, the configured coarse product) on D (**required**) and on
  D-8..D-2 for the lagged predictors ``sm_lag3``/``sm_lag7`` (the coarse SMAP of D-3 / D-7,
  per cell the nearest valid day within +-1 day; a tie goes to the more recent day);
- MODIS tiles covering the region: LST of D (``MOD11A1`` Terra and ``MYD11A1`` Aqua, each
  screened for cold cloud edges by :mod:`smprod.inputs.cloud_edges`, masked pixels noted in
  ``missing``; mean where both are valid), the 16-day VI composite covering D
  (``MOD13A2``/``MYD13A2``), albedo of D (``MCD43A3``), land cover of D's year or the latest
  earlier year (``MCD12Q1``);
- IMERG daily D-2..D (``precip`` of D, ``precip_3d`` the sum of the three; the worst run used is
  recorded so a day made with Early/Late can be reprocessed when Final arrives). Every run of a
  day is a candidate (Final, then Late, then Early): a run that cannot be read is quarantined and
  one without any value over the region is passed over, and the next is tried. A day without any
  usable run does not stop D, D+1 and D+2: its values are filled
  (:func:`~smprod.inputs.dayfiles.fill_precip`: the mean of the valid days of D-2..D, 0 mm where
  none) and the pixels marked in ``precip_filled`` (QA ``precip_filled`` in the product);
- static layers ``elevation`` (and ``slope`` from it), ``sand``, ``silt``, ``clay``;
- only with ``use_sif`` (the setting of that name): the GOSIF 8-day composite covering D
  (:func:`sif_composites`: start <= D within 8 days; none: ``sif`` NaN, noted in ``missing``),
  bilinear to 1 km as precipitation (its 0.05 degree cells are 4-6 km), into ``fine.nc``
  variable ``sif`` and its block mean in ``coarse.nc``. Without the setting nothing is asked
  of the source for SIF and the files are as before. :func:`add_sif` puts SIF into days already
  ingested without it (the rest of their files untouched).

For every slot the best candidate (:func:`smprod.inputs.granules.rank_candidates`) is fetched, read and
gridded; a candidate that fails to download correctly, open, or pass a check is quarantined
(:func:`smprod.inputs.ledger.quarantine`) and the next candidate is tried, so a day goes on with what is
valid (another release, the other MODIS platform, the remaining tiles, another IMERG run). Only
a missing SMAP granule for D stops the day (:class:`~smprod.errors.MissingInputError`); other
missing inputs are NaN (precipitation: filled, see above) and listed in the files' ``missing``
attribute.

Outputs follow the day-input contract, :mod:`smprod.inputs.dayfiles` (variables, combination
rules, attributes, the atomic write): ``<workdir>/inputs/YYYY/MM/DD/fine.nc`` and ``coarse.nc``.
This module decides which granules go in, reads and grids them and keeps the ledger; what the
files hold and how they are written is :mod:`~smprod.inputs.dayfiles`'.

**Reuse.** The files carry a fingerprint of what ingest depends on: the granules the source
offers for the day (names and sizes, minus those this run quarantined), the static layers (size,
modification time), the region, the coarse product, the smprod version and a digest of the
code that turns granules into these files (``INGEST_CODE``). When a later ingest of the day
finds the same fingerprint (attribute :data:`~smprod.inputs.dayfiles.FINGERPRINT_ATTR`) in both
files it reuses them instead of reading every granule again (``IngestReport.reused``); any new,
removed or replaced granule, an upgrade, or a fixed reader (even without a version bump) makes it
ingest anew. ``force=True`` always ingests.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray
from sqlalchemy.engine import Engine

from smprod.errors import DownloadError, GranuleError, MissingInputError
from smprod.grids.ease import Region
from smprod.inputs import ledger
from smprod.inputs.cloud_edges import screen_cloud_edges
from smprod.inputs.dayfiles import (
    FINE_VARIABLES,
    LAG_DAYS,
    LANDCOVER_NODATA,
    PRECIP_DAYS,
    PRECIP_FILLED,
    PRECIP_FILLED_3D,
    SIF,
    SMAP_LAGS,
    add_fine_variable,
    day_attrs,
    day_files,
    fill_precip,
    lagged_smap,
    mean_valid,
    read_record,
    write_day_inputs,
)
from smprod.inputs.granules import (
    IMERG_PRODUCTS,
    IMERG_RUN_RANK,
    SIF_COMPOSITE_DAYS,
    SIF_PRODUCT,
    modis_tiles,
)
from smprod.inputs.sources.base import STATIC_LAYERS, GranuleQuery, GranuleRef, GranuleSource
from smprod.layout import WorkLayout

log = logging.getLogger(__name__)

#: The modules (relative to the ``smprod`` package) whose code decides the content of the day
#: files: a change to any of them changes the ingest fingerprint, so fixed readers take effect on
#: a rerun.
INGEST_CODE = (
    "inputs/ingest.py",
    "inputs/cloud_edges.py",
    "inputs/dayfiles.py",
    "inputs/granules.py",
    "inputs/readers",
    "grids/ease.py",
    "grids/regrid.py",
    "grids/reproject.py",
)
#: How many years back to look for MCD12Q1 land cover (released about a year late).
LANDCOVER_YEARS_BACK = 5
#: MODIS product -> (reader kind, variables, resampling to 1 km).
MODIS_FIELDS = {
    "MOD11A1": ("lst_day", "lst_night"),
    "MYD11A1": ("lst_day", "lst_night"),
    "MOD13A2": ("ndvi", "evi"),
    "MYD13A2": ("ndvi", "evi"),
    "MCD43A3": ("albedo_bsa", "albedo_wsa"),
    "MCD12Q1": ("landcover",),
}


@dataclass
class IngestReport:
    """What ingesting a day did.

    Attributes:
        day: the product day.
        fine, coarse: the written files.
        inputs: product -> granule ids used.
        quarantined: granule id -> reason, for granules quarantined by this run.
        missing: optional inputs that are NaN in the files, with why.
        smap_release: release of the SMAP granule of D (``R19240_001``).
        precip_run: worst IMERG run used (``Final``, ``Late``, ``Early``; empty if none).
    """

    day: date
    fine: Path
    coarse: Path
    inputs: dict[str, list[str]] = field(default_factory=dict)
    quarantined: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    smap_release: str = ""
    precip_run: str = ""
    reused: bool = False


def day_queries(day: date, region: Region, coarse_product: str, use_sif: bool = False) -> list[GranuleQuery]:
    """The granule queries a product day needs (module docstring); SIF only with ``use_sif``."""
    bbox = region.fine.lonlat_bounds()
    tiles = modis_tiles(region)
    modis_daily = ("MOD11A1", "MYD11A1", "MOD13A2", "MYD13A2", "MCD43A3")
    queries = [
        GranuleQuery((coarse_product,), day - timedelta(days=LAG_DAYS), day, bbox),
        GranuleQuery(modis_daily, day, day, bbox, tiles),
        GranuleQuery(("MCD12Q1",), date(day.year - LANDCOVER_YEARS_BACK, 1, 1), day, bbox, tiles),
        GranuleQuery(tuple(IMERG_PRODUCTS.values()), day - timedelta(days=PRECIP_DAYS - 1), day, bbox),
    ]
    return [*queries, sif_query(day, region)] if use_sif else queries


def sif_query(day: date, region: Region) -> GranuleQuery:
    """The GOSIF composites that may cover ``day`` (those starting in the 8 days up to it)."""
    first = day - timedelta(days=SIF_COMPOSITE_DAYS - 1)
    return GranuleQuery((SIF_PRODUCT,), first, day, region.fine.lonlat_bounds())


def sif_composites(refs: Sequence[GranuleRef], day: date) -> list[GranuleRef]:
    """The GOSIF 8-day composites for ``day``, best first: those starting on D or in the 7 days
    before it, the latest start first (the one whose period covers D, then older ones)."""
    first = day - timedelta(days=SIF_COMPOSITE_DAYS - 1)
    return _best_first(
        [r for r in refs if r.granule.product == SIF_PRODUCT and first <= r.granule.day <= day]
    )


def _best_first(refs: Sequence[GranuleRef]) -> list[GranuleRef]:
    """Best first: newest data day (latest composite or land-cover year), then the slot's rank rules."""
    return sorted(refs, key=lambda r: (r.granule.day, r.granule.rank, r.name), reverse=True)


def _on_day(
    refs: Sequence[GranuleRef], when: date, *, product: str = "", family: str = ""
) -> list[GranuleRef]:
    """Candidates of one day: of ``product`` (or of a whole ``family``, e.g. every IMERG run)."""
    return _best_first(
        [
            r
            for r in refs
            if r.granule.day == when and (r.granule.product == product or r.granule.family == family)
        ]
    )


def _of_tile(refs: Sequence[GranuleRef], product: str, tile: str, day: date) -> list[GranuleRef]:
    """Candidates of one MODIS product and tile whose period covers ``day`` (land cover: any year
    the query returned, newest first)."""
    return _best_first(
        [
            r
            for r in refs
            if r.granule.product == product
            and r.granule.tile == tile
            and (r.granule.covers(day) or product == "MCD12Q1")
        ]
    )


class _DayLoader:
    """Tries candidates in order: fetch, read; quarantines failures; remembers what was used."""

    def __init__(
        self, source: GranuleSource, engine: Engine, layout: WorkLayout, report: IngestReport
    ) -> None:
        self.source, self.engine, self.layout, self.report = source, engine, layout, report

    def first_valid(
        self, candidates: Sequence[GranuleRef], read: Callable[[Path], Any]
    ) -> tuple[GranuleRef, Any] | None:
        """The first candidate that fetches and reads, with what ``read`` returned; None if none."""
        for ref in candidates:
            path: Path | None = None
            try:
                path = self.source.fetch(ref)
                data = read(path)
            except GranuleError as err:
                self._quarantine(ref, path, err.reason)
                continue
            except (DownloadError, MissingInputError) as err:
                log.warning("%s: not available (%s); trying the next candidate", ref.name, err)
                continue
            ledger.set_status(self.engine, ref.granule, "valid", path=path)
            self.report.inputs.setdefault(ref.granule.product, []).append(ref.name)
            return ref, data
        return None

    def _quarantine(self, ref: GranuleRef, path: Path | None, reason: str) -> None:
        log.warning("quarantining %s: %s", ref.name, reason)
        ledger.quarantine(self.engine, self.layout, ref.granule, path, reason)
        self.report.quarantined[ref.name] = reason


def _nan_field(region: Region) -> NDArray[np.float32]:
    return np.full(region.fine.shape, np.nan, dtype=np.float32)


def _smap(
    loader: _DayLoader, refs: Sequence[GranuleRef], day: date, region: Region, product: str
) -> dict[str, xr.Dataset]:
    """SMAP on the coarse grid for every day D-8..D that has a valid granule (ISO day -> Dataset
    of ``sm``, ``sm_am``, ``sm_pm`` arrays, attribute ``release``; no coordinates: only the values
    go on, into the lags and the coarse file).

    Read as plain arrays (``read_smap_arrays``, ``smap_arrays_to_coarse``): the values of
    ``smap_to_coarse(read_smap_l3(...))`` without building and georeferencing two Datasets.
    """
    from smprod.grids.reproject import smap_arrays_to_coarse
    from smprod.inputs.readers.smap import read_smap_arrays

    def read(path: Path) -> dict[str, NDArray]:
        smap = read_smap_arrays(path, window=region.coarse)
        return smap_arrays_to_coarse(smap.values, smap.grid, region, str(smap.path))

    loaded: dict[str, xr.Dataset] = {}
    for back in range(LAG_DAYS + 1):
        when = day - timedelta(days=back)
        got = loader.first_valid(_on_day(refs, when, product=product), read)
        if got is not None:
            variables = {name: (("y", "x"), values) for name, values in got[1].items()}
            loaded[when.isoformat()] = xr.Dataset(variables, attrs={"release": got[0].granule.release_id})
    return loaded


def _lagged(
    smap: dict[str, xr.Dataset], day: date, region: Region, report: IngestReport
) -> dict[str, NDArray]:
    """``sm_lag3``/``sm_lag7`` of the SMAP read for D-8..D; a lag with no valid cell is reported."""
    by_day = {date.fromisoformat(when): ds["sm"].values for when, ds in smap.items()}
    out = lagged_smap(by_day, day, region.coarse.shape)
    for name, backs in SMAP_LAGS.items():
        if not np.isfinite(out[name]).any():
            report.missing.append(f"{name}: no valid SMAP on D-{backs[-1]}..D-{backs[1]}")
    return out


def _modis(
    loader: _DayLoader, refs: Sequence[GranuleRef], day: date, region: Region, report: IngestReport
) -> dict[str, NDArray]:
    """MODIS fields on the 1 km grid: tiles mosaicked per product, LST screened for cold cloud
    edges per platform, Terra and Aqua averaged.

    Each tile is read only over the window the region needs (``read_modis_window``) and warped
    as plain arrays; the values are those of the whole tile through ``to_fine``.
    """
    from smprod.inputs.readers.modis import IGBP_WATER

    mosaics = {product: _product_mosaic(loader, refs, product, day, region) for product in MODIS_FIELDS}
    landcover = mosaics["MCD12Q1"].get("landcover")
    water = None if landcover is None else landcover == IGBP_WATER  # no LST there, and no cloud
    fields: dict[str, list[NDArray]] = defaultdict(list)
    for product, mosaicked in mosaics.items():
        for name, values in mosaicked.items():
            if name in LST_SCREENED:
                values = _screen_edges(values, water, f"{name} {product}", report)
            fields[name].append(values)
    out: dict[str, NDArray] = {}
    for name in sorted({n for names in MODIS_FIELDS.values() for n in names}):
        if name not in fields:
            report.missing.append(f"{name}: no valid MODIS granule")
        elif name == "landcover":
            out[name] = fields[name][0].astype(np.int16)
        else:
            out[name] = mean_valid(fields[name])
    return out


def _product_mosaic(
    loader: _DayLoader, refs: Sequence[GranuleRef], product: str, day: date, region: Region
) -> dict[str, NDArray]:
    """One MODIS product's fields over the region, its tiles' warped windows mosaicked."""
    from smprod.grids.reproject import fields_to_fine, mosaic
    from smprod.inputs.readers.modis import read_modis_window

    method = "mode" if product == "MCD12Q1" else "average"

    def read(path: Path) -> dict[str, NDArray]:
        return fields_to_fine(read_modis_window(path, region.fine), region, method)

    mosaicked: dict[str, NDArray] = {}
    for tile in modis_tiles(region):
        got = loader.first_valid(_of_tile(refs, product, tile, day), read)
        if got is None:
            continue
        # tile by tile into one mosaic per field: a large region held all its tiles' full-size
        # fields at once (5.3 GiB for an 8 M-cell day)
        for name in MODIS_FIELDS[product]:
            nodata = float(LANDCOVER_NODATA) if name == "landcover" else np.nan
            before = [mosaicked[name]] if name in mosaicked else []
            mosaicked[name] = mosaic([*before, got[1][name]], nodata)
    return mosaicked


#: The MODIS fields screened for cold cloud edges (:mod:`smprod.inputs.cloud_edges`).
LST_SCREENED = ("lst_day", "lst_night")


def _screen_edges(values: NDArray, water: NDArray | None, label: str, report: IngestReport) -> NDArray:
    """One platform's LST mosaic with its cold cloud edges masked, noted in ``missing``."""
    screened, found = screen_cloud_edges(values, water)
    if found.masked:
        report.missing.append(found.note(label))
        log.info("%s: %s", report.day, report.missing[-1])
    return screened


#: How a filled precipitation day is described in the day files' ``missing`` list.
PRECIP_FILL_NOTE = "filled with the mean of the valid days of D-2..D (0 mm where none; QA precip_filled)"


def _precip(
    loader: _DayLoader, refs: Sequence[GranuleRef], day: date, region: Region, report: IngestReport
) -> dict[str, NDArray]:
    """IMERG ``precip`` (D) and ``precip_3d`` (sum D-2..D), missing days filled, with the
    :data:`~smprod.inputs.dayfiles.PRECIP_FILLED` bits (module docstring)."""
    from smprod.grids.reproject import to_fine
    from smprod.inputs.readers.imerg import read_imerg

    def read(path: Path) -> xr.DataArray:
        values = to_fine(read_imerg(path, window=region.fine), region, "bilinear")
        if not np.isfinite(values.values).any():  # readable, but nothing here: try another run
            raise MissingInputError(f"{path.name} has no valid precipitation over the region")
        return values

    days: list[NDArray | None] = []
    runs: list[str] = []
    for back in range(PRECIP_DAYS):
        when = day - timedelta(days=back)
        got = loader.first_valid(_on_day(refs, when, family="IMERG"), read)
        if got is None:
            report.missing.append(f"precip: no valid IMERG granule for {when}: {PRECIP_FILL_NOTE}")
            days.append(None)
            continue
        values = got[1].values.astype(np.float32)
        if (holes := int((~np.isfinite(values)).sum())) > 0:
            report.missing.append(f"precip: {got[0].name} has no value at {holes} pixels: {PRECIP_FILL_NOTE}")
        days.append(values)
        runs.append(got[0].granule.run or "Early")
    report.precip_run = min(runs, key=IMERG_RUN_RANK.__getitem__) if runs else ""
    filled = fill_precip(days, region.fine.shape)
    if filled.filled.any():
        share = float(np.count_nonzero(filled.filled & PRECIP_FILLED_3D)) / filled.filled.size
        log.warning(
            "%s: precipitation filled at %.1f %% of the pixels (%s)", day, 100 * share, PRECIP_FILL_NOTE
        )
    return {"precip": filled.precip, "precip_3d": filled.precip_3d, PRECIP_FILLED: filled.filled}


def _static(source: GranuleSource, region: Region, report: IngestReport) -> dict[str, NDArray]:
    """Static layers on the 1 km grid and the slope from the elevation."""
    from smprod.grids.reproject import to_fine
    from smprod.inputs.readers.static import read_static, slope_degrees

    files = source.static_files()
    out: dict[str, NDArray] = {}
    for name in STATIC_LAYERS:
        if name not in files:
            report.missing.append(f"{name}: no static/{name}.tif in the archive")
            continue
        try:
            out[name] = to_fine(read_static(files[name], name), region, "average").values.astype(np.float32)
        except GranuleError as err:  # a static map is not quarantined: every day needs it
            report.missing.append(f"{name}: {err}")
    if "elevation" in out:
        out["slope"] = slope_degrees(out["elevation"], region.fine).astype(np.float32)
    return out


def _sif(
    loader: _DayLoader, refs: Sequence[GranuleRef], day: date, region: Region, report: IngestReport
) -> dict[str, NDArray]:
    """GOSIF ``sif`` on the 1 km grid, bilinear (module docstring); without a valid composite
    nothing, noted in ``missing``."""
    from smprod.grids.reproject import to_fine
    from smprod.inputs.readers.sif import read_gosif

    def read(path: Path) -> NDArray:
        return to_fine(read_gosif(path, window=region.fine), region, "bilinear").values.astype(np.float32)

    got = loader.first_valid(sif_composites(refs, day), read)
    if got is None:
        first = day - timedelta(days=SIF_COMPOSITE_DAYS - 1)
        report.missing.append(f"{SIF}: no valid GOSIF 8-day composite starting {first}..{day}")
        return {}
    return {SIF: got[1]}


def add_sif(
    day: date, region: Region, source: GranuleSource, layout: WorkLayout, engine: Engine
) -> IngestReport:
    """Put GOSIF ``sif`` into the files of a day ingested without it (turning ``use_sif`` on for
    days already ingested, without reading their other granules again).

    Only ``sif`` (NaN without a valid composite) and the ``inputs``/``missing`` attributes
    change; the fingerprint stays the one of the files' other inputs, so a later
    :func:`ingest_day` with ``use_sif`` ingests the day whole again.

    Raises:
        MissingInputError: the day has not been ingested.
        DatabaseError: the ledger cannot be written.
    """
    report = IngestReport(day, *day_files(layout, day))
    if not (report.fine.exists() and report.coarse.exists()):
        raise MissingInputError(f"no gridded inputs for {day} ({report.fine.parent}): ingest the day first")
    record = read_record(report.coarse)
    refs = source.find(sif_query(day, region))
    ledger.record_found(engine, refs)
    values = _sif(_DayLoader(source, engine, layout, report), refs, day, region, report)
    report.inputs = {**record.inputs, **report.inputs}
    report.missing = [note for note in record.missing if not note.startswith(f"{SIF}:")] + report.missing
    attrs = {"inputs": json.dumps(report.inputs, sort_keys=True), "missing": json.dumps(report.missing)}
    add_fine_variable(layout, region, day, SIF, values.get(SIF, _nan_field(region)), attrs)
    ledger.mark_used(engine, report.inputs.get(SIF_PRODUCT, []), day)
    report.smap_release, report.precip_run = record.smap_release, record.precip_run
    return report


def _fingerprint(
    refs: Sequence[GranuleRef], source: GranuleSource, region: Region, coarse_product: str, use_sif: bool
) -> str:
    """What the day's inputs depend on, hashed (module docstring, "Reuse")."""
    import smprod

    statics = {}
    for name, path in sorted(source.static_files().items()):
        stat = path.stat()
        statics[name] = [stat.st_size, stat.st_mtime_ns]
    grid = region.coarse
    payload: dict[str, object] = {
        "version": smprod.__version__,
        "coarse_product": coarse_product,
        "region": [grid.km, grid.row0, grid.col0, grid.nrows, grid.ncols, region.fine.km],
        "granules": sorted([ref.name, ref.size] for ref in refs),
        "static": statics,
        "code": ingest_code_digest(),
    }
    if use_sif:  # only then: a day ingested without SIF keeps its fingerprint
        payload["sif"] = True
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


@lru_cache(maxsize=1)
def ingest_code_digest() -> str:
    """SHA-256 of the source of ``INGEST_CODE`` (file names and contents, in a fixed order)."""
    return code_digest(INGEST_CODE)


@lru_cache(maxsize=8)
def code_digest(entries: tuple[str, ...]) -> str:
    """SHA-256 of the source of ``entries`` (modules or packages relative to ``smprod``: file
    names and contents, in a fixed order); also the product's input key's code version."""
    package = Path(__file__).parents[1]
    digest = hashlib.sha256()
    for entry in entries:
        path = package / entry
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(file.relative_to(package).as_posix().encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def _reuse(report: IngestReport, fingerprint: str) -> IngestReport | None:
    """The report of the day's existing files when both carry ``fingerprint``; else None."""
    if not (report.fine.exists() and report.coarse.exists()):
        return None
    try:
        records = [read_record(report.fine), read_record(report.coarse)]
    except (OSError, ValueError) as err:  # unreadable leftovers: ingest anew over them
        log.warning("%s: day files unreadable (%s); ingesting again", report.day, err)
        return None
    if any(r.fingerprint != fingerprint for r in records):
        return None
    record = records[1]
    report.inputs, report.missing = record.inputs, record.missing
    report.smap_release, report.precip_run = record.smap_release, record.precip_run
    report.reused = True
    return report


def ingest_day(
    day: date,
    region: Region,
    coarse_product: str,
    source: GranuleSource,
    layout: WorkLayout,
    engine: Engine,
    force: bool = False,
    use_sif: bool = False,
) -> IngestReport:
    """Find, fetch, read and grid the granules of ``day``; write its ``fine.nc`` and ``coarse.nc``.

    Args:
        day: the product day D.
        region: the product region (its 1 km and coarse grids).
        coarse_product: ``SPL3SMP`` or ``SPL3SMP_E`` (must match ``region.coarse``).
        source: where granules come from (archive or Earthdata).
        layout: the work directory (inputs and quarantine folders).
        engine: the database holding the granule ledger.
        force: ingest even when the day's files are current (module docstring, "Reuse").
        use_sif: also the GOSIF composite covering the day (the setting; variable ``sif``).

    Raises:
        MissingInputError: no valid SMAP granule of ``coarse_product`` for ``day``.
        DatabaseError: the ledger cannot be written.
    """
    report = IngestReport(day, *day_files(layout, day))
    refs = source.find_many(day_queries(day, region, coarse_product, use_sif))
    ledger.record_found(engine, refs)
    if not force and (reused := _reuse(report, _fingerprint(refs, source, region, coarse_product, use_sif))):
        return reused
    loader = _DayLoader(source, engine, layout, report)
    smap = _required_smap(loader, refs, day, region, coarse_product)
    lags = _lagged(smap, day, region, report)
    fine = _fine_fields(loader, refs, day, region, use_sif)
    used = [r for r in refs if r.name not in report.quarantined]
    attrs = _day_attrs(report, coarse_product, _fingerprint(used, source, region, coarse_product, use_sif))
    write_day_inputs(layout, region, day, fine, smap[day.isoformat()], lags, attrs)
    ledger.mark_used(engine, [name for names in report.inputs.values() for name in names], day)
    return report


def _day_attrs(report: IngestReport, coarse_product: str, fingerprint: str) -> dict[str, str]:
    """The day files' global attributes: what this ingest used and missed, and its fingerprint."""
    return day_attrs(
        report.day,
        report.inputs,
        smap_release=report.smap_release,
        precip_run=report.precip_run,
        coarse_product=coarse_product,
        missing=report.missing,
        fingerprint=fingerprint,
    )


def _required_smap(
    loader: _DayLoader, refs: Sequence[GranuleRef], day: date, region: Region, coarse_product: str
) -> dict[str, xr.Dataset]:
    """The SMAP of D-8..D (:func:`_smap`); records D's release, raises when D has none."""
    report = loader.report
    smap = _smap(loader, refs, day, region, coarse_product)
    if day.isoformat() not in smap:
        tried = [r.name for r in refs if r.granule.product == coarse_product and r.granule.day == day]
        bad = {n: report.quarantined[n] for n in tried if n in report.quarantined}
        raise MissingInputError(
            f"no valid {coarse_product} granule for {day} (required): "
            + (f"tried {tried}, quarantined: {bad}" if tried else "none found in the source")
        )
    report.smap_release = str(smap[day.isoformat()].attrs["release"])
    return smap


def _fine_fields(
    loader: _DayLoader, refs: Sequence[GranuleRef], day: date, region: Region, use_sif: bool = False
) -> dict[str, NDArray]:
    """Every ``FINE_VARIABLES`` field (MODIS, IMERG, static; a missing one NaN, land cover -1),
    ``precip_filled`` and, with ``use_sif``, ``sif``."""
    report = loader.report
    fine = {
        **_modis(loader, refs, day, region, report),
        **_precip(loader, refs, day, region, report),
        **_static(loader.source, region, report),
        **(_sif(loader, refs, day, region, report) if use_sif else {}),
    }
    names = (*FINE_VARIABLES, PRECIP_FILLED, *((SIF,) if use_sif else ()))
    fine = {name: fine.get(name, _nan_field(region)) for name in names}
    if fine["landcover"].dtype != np.int16:  # no land cover: the float NaN placeholder
        fine["landcover"] = np.full(region.fine.shape, LANDCOVER_NODATA, dtype=np.int16)
    return fine
