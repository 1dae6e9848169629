"""The gridded day inputs, ``<workdir>/inputs/YYYY/MM/DD/{fine,coarse}.nc``: the whole contract.

Two writers and many readers share these files: ingest (:mod:`smprod.inputs.ingest`, from
granules), the synthetic world (:mod:`smprod.synthetic.gridded`, straight from simulated fields),
and features, training, production and validation (through :class:`InputStore`). Everything
they must agree on lives here:

- **Variables.** ``fine.nc`` on ``region.fine`` (1 km): :data:`FINE_VARIABLES` with
  :data:`FINE_UNITS`; ``landcover`` int16 with ``_FillValue`` :data:`LANDCOVER_NODATA`, the rest
  float32 with NaN. ``coarse.nc`` on ``region.coarse``: SMAP ``sm``, ``sm_am``, ``sm_pm`` of D,
  the lags of :data:`SMAP_LAGS`, and every fine field aggregated (block mean with the 50% rule;
  ``landcover`` by block mode).
- **Combination rules.** Terra and Aqua, and SMAP AM and PM, combine by :func:`mean_valid`;
  ``sm_lag3``/``sm_lag7`` by :func:`lagged_smap` (per cell the nearest valid of the days in
  :data:`SMAP_LAGS`; :data:`LAG_DAYS` of SMAP history needed); ``precip_3d`` by
  :func:`precip_total` over :data:`PRECIP_DAYS` days, NaN unless every day exists; ingest fills
  what is missing by :func:`fill_precip` (a missing IMERG day takes the mean of the valid days of
  D-2..D at the pixel, 0 mm where none is valid) and says where in :data:`PRECIP_FILLED`.
- **Attributes.** :func:`day_attrs` (the same global attributes in both files: the granules used,
  SMAP release, worst IMERG run, coarse product, missing inputs) and the ingest fingerprint
  :data:`FINGERPRINT_ATTR`, read back by :func:`read_record`; each file also records the SHA-256
  of every variable it holds (:data:`DIGESTS_ATTR`, :func:`array_digest`), so a reader can tell
  what a day's inputs contain without reading them (the product's input key,
  :func:`smprod.product.produce.input_key`).
- **Writing.** :func:`write_day_inputs`: each file netCDF-4 (zlib level 1) to a temporary sibling,
  then renamed; the fine variables chunked on the processing tiles.
- **Adding.** :func:`add_fine_variable`: an optional 1 km variable (:data:`SIF`) put into a
  day's existing files (its coarse aggregate too), the rest of them as they were.
- **Reading.** :class:`InputStore`: coarse files loaded whole, 1 km files read window by window;
  a store may be limited to a fixed set of days (what a product day was keyed on).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import netCDF4
import numpy as np
import xarray as xr
from numpy.typing import NDArray
from xarray.backends.netCDF4_ import NETCDF4_PYTHON_LOCK

from smprod.errors import MissingInputError
from smprod.grids.ease import Region, RegionGrid
from smprod.grids.regrid import block_mean, block_mode
from smprod.layout import WorkLayout

T = TypeVar("T")

#: Lagged SMAP predictors: name -> days before D, tried in this order (nearest valid within
#: +-1 day; ties to the more recent day). Design, "Predictors".
SMAP_LAGS = {"sm_lag3": (3, 2, 4), "sm_lag7": (7, 6, 8)}
#: Days of SMAP history before D the lagged predictors need (sm_lag7 with its +-1 day tolerance).
LAG_DAYS = max(max(backs) for backs in SMAP_LAGS.values())
#: Days of IMERG precipitation summed into ``precip_3d`` (D-2..D). Design, "Predictors".
PRECIP_DAYS = 3
#: Fine variables in file order (the contract's list plus ``precip_3d``).
FINE_VARIABLES = (
    "lst_day", "lst_night", "ndvi", "evi", "albedo_bsa", "albedo_wsa", "precip", "precip_3d",
    "landcover", "elevation", "slope", "sand", "silt", "clay",
)  # fmt: skip
FINE_UNITS = {
    "lst_day": "K", "lst_night": "K", "ndvi": "1", "evi": "1", "albedo_bsa": "1", "albedo_wsa": "1",
    "precip": "mm/day", "precip_3d": "mm", "landcover": "IGBP class", "elevation": "m",
    "slope": "degrees", "sand": "percent", "silt": "percent", "clay": "percent", "precip_filled": "1",
    "sif": "W m-2 um-1 sr-1",
}  # fmt: skip
#: Optional 1 km variable written by ingest with the ``use_sif`` setting: GOSIF solar-induced
#: fluorescence of the 8-day composite covering the day (bilinear from 0.05 degrees, NaN over
#: water, snow and ice or without a composite); aggregated to ``coarse.nc`` like the MODIS fields.
SIF = "sif"
#: Optional 1 km variable written by ingest (uint8 bits, 0 = observed): which precipitation fields
#: :func:`fill_precip` filled at the pixel. Not aggregated to the coarse file, whose ``precip`` and
#: ``precip_3d`` are of the observed values only (NaN where filled), so training never learns
#: from a filled value; files without it (older files, the synthetic benchmark writer) have no fill.
PRECIP_FILLED = "precip_filled"
#: :data:`PRECIP_FILLED` bits: ``precip`` of D was filled / ``precip_3d`` was (a day of D-2..D missing).
PRECIP_FILLED_DAY, PRECIP_FILLED_3D = 1, 2
#: Units of the variables not in FINE_UNITS (SMAP and its lags).
SMAP_UNITS = "m3/m3"
LANDCOVER_NODATA = -1
#: Global attribute holding the ingest fingerprint (:mod:`smprod.inputs.ingest`, "Reuse").
FINGERPRINT_ATTR = "ingest_fingerprint"
#: Global attribute of each file: JSON variable name -> :func:`array_digest` of what it holds.
DIGESTS_ATTR = "variable_digests"
#: netCDF-C chunk cache (bytes per variable) for the 1 km inputs. The library default (64 MiB
#: per variable in recent netCDF-C) would let a tiled reader keep most of a large region in
#: memory; a tile reads whole chunks of its own (:meth:`Region.tile_pixels`), so 1 MiB is enough.
FINE_CHUNK_CACHE = 1 << 20
#: Open day files kept by an :class:`InputStore` (a day plus its gap-filling neighbours).
MAX_OPEN_FILES = 40


# ---------------------------------------------------------------- combination rules


def mean_valid(arrays: Sequence[NDArray]) -> NDArray[np.float32]:
    """Per-cell mean of the finite values (NaN where none): Terra with Aqua, SMAP AM with PM."""
    stack = np.stack([np.asarray(a, dtype=np.float64) for a in arrays])
    count = np.isfinite(stack).sum(axis=0)
    total = np.where(np.isfinite(stack), stack, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan).astype(np.float32)


def lagged_smap(
    sm_by_day: Mapping[date, NDArray], day: date, shape: tuple[int, int]
) -> dict[str, NDArray[np.float32]]:
    """``sm_lag3``/``sm_lag7``: per cell the first valid of the lag days in SMAP_LAGS order."""
    out = {}
    for name, backs in SMAP_LAGS.items():
        value = np.full(shape, np.nan, dtype=np.float32)
        for back in backs:
            sm = sm_by_day.get(day - timedelta(days=back))
            if sm is not None:
                value = np.where(np.isfinite(value), value, sm).astype(np.float32)
        out[name] = value
    return out


def precip_total(days: Sequence[NDArray | None], shape: tuple[int, int]) -> NDArray[np.float32]:
    """``precip_3d``: the sum of the :data:`PRECIP_DAYS` daily fields D, D-1, ... (None: missing).

    NaN everywhere unless every day exists (a sum with a missing day would be silently low), and
    NaN where any day is NaN.
    """
    present = [d for d in days[:PRECIP_DAYS] if d is not None]
    if len(present) < PRECIP_DAYS:
        return np.full(shape, np.nan, dtype=np.float32)
    return np.sum(present, axis=0).astype(np.float32)


@dataclass(frozen=True)
class FilledPrecip:
    """``precip`` and ``precip_3d`` with what was missing filled (:func:`fill_precip`).

    Attributes:
        precip, precip_3d: the fields for the fine file (float32, finite everywhere).
        filled: uint8 :data:`PRECIP_FILLED` bits per pixel (0 where both are observed).
    """

    precip: NDArray[np.float32]
    precip_3d: NDArray[np.float32]
    filled: NDArray[np.uint8]


def fill_precip(days: Sequence[NDArray | None], shape: tuple[int, int]) -> FilledPrecip:
    """The precipitation predictors of D from the daily fields D, D-1, D-2 (None: no valid run).

    Where every day is valid, ``precip`` is D's field and ``precip_3d`` :func:`precip_total`'s sum,
    bit for bit. Elsewhere (a day without any readable IMERG run, or a fill pixel) each missing
    day takes, per pixel, the mean of the valid days of the three, and 0 mm (no rain, the most
    frequent daily amount) where none is valid; ``precip_3d`` is then the sum of the completed
    days (3 x the mean of the valid ones). The mean keeps the 3-day sum unbiased when one or two
    days are missing; the product's coarse means still come from SMAP (mass correction), so a
    filled value shapes only the 1 km pattern. Such pixels are flagged (QA ``precip_filled``).
    """
    stack = np.full((PRECIP_DAYS, *shape), np.nan, dtype=np.float32)
    for k, values in enumerate(days[:PRECIP_DAYS]):
        if values is not None:
            stack[k] = values
    valid = np.isfinite(stack)
    observed_3d = precip_total([stack[k] if valid[k].any() else None for k in range(PRECIP_DAYS)], shape)
    count = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, np.where(valid, stack, 0.0).sum(axis=0) / np.maximum(count, 1), 0.0)
    completed = np.where(valid, stack, mean.astype(np.float32)).astype(np.float32)
    day_missing, any_missing = ~valid[0], ~valid.all(axis=0)
    precip = np.where(day_missing, completed[0], stack[0]).astype(np.float32)
    total = np.where(any_missing, np.sum(list(completed), axis=0), observed_3d).astype(np.float32)
    filled = np.where(day_missing, PRECIP_FILLED_DAY, 0) | np.where(any_missing, PRECIP_FILLED_3D, 0)
    return FilledPrecip(precip, total, filled.astype(np.uint8))


def coarse_values(
    fine: Mapping[str, NDArray], smap: xr.Dataset, lags: Mapping[str, NDArray], factor: int
) -> dict[str, NDArray]:
    """Coarse variables: SMAP of D, its lags, and every fine field aggregated (50% rule; mode).

    Filled precipitation (:data:`PRECIP_FILLED`) is left out of the aggregates: the coarse file
    holds what was observed, as before filling existed.
    """
    from smprod.grids.reproject import SMAP_VARIABLES

    out: dict[str, NDArray] = {name: smap[name].values.astype(np.float32) for name in SMAP_VARIABLES}
    out.update(lags)
    filled = fine.get(PRECIP_FILLED)
    for name, values in fine.items():
        if name == PRECIP_FILLED:
            continue
        if filled is not None and name in ("precip", "precip_3d"):
            bit = PRECIP_FILLED_DAY if name == "precip" else PRECIP_FILLED_3D
            values = np.where(filled & bit, np.nan, values)
        if name == "landcover":
            out[name] = block_mode(values, factor, nodata=LANDCOVER_NODATA).astype(np.int16)
        else:
            out[name] = block_mean(values, factor).astype(np.float32)
    return out


# ---------------------------------------------------------------- attributes


def day_attrs(
    day: date,
    inputs: Mapping[str, list[str]],
    *,
    smap_release: str,
    precip_run: str,
    coarse_product: str,
    missing: Sequence[str] = (),
    fingerprint: str | None = None,
) -> dict[str, str]:
    """The global attributes of both day files (what :func:`read_record` reads back)."""
    attrs = {
        "day": day.isoformat(),
        "inputs": json.dumps(dict(inputs), sort_keys=True),
        "smap_release": smap_release,
        "precip_run": precip_run,
        "coarse_product": coarse_product,
        "missing": json.dumps(list(missing)),
    }
    if fingerprint is not None:
        attrs[FINGERPRINT_ATTR] = fingerprint
    return attrs


@dataclass(frozen=True)
class DayRecord:
    """What a day file's global attributes say (see :func:`day_attrs`)."""

    inputs: dict[str, list[str]]
    missing: list[str]
    smap_release: str
    precip_run: str
    fingerprint: str | None
    digests: dict[str, str] = field(default_factory=dict)


def array_digest(values: NDArray) -> str:
    """SHA-256 (hex, 16 digits) of an array as stored: dtype, shape and values (every NaN alike)."""
    array = np.ascontiguousarray(values)
    if array.dtype.kind == "f":
        array = np.where(np.isnan(array), np.nan, array).astype(array.dtype)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def file_attrs(path: Path) -> dict[str, Any]:
    """The global attributes of a netCDF file, without reading its variables."""
    with _NETCDF_LOCK, netCDF4.Dataset(path) as nc:
        return {name: nc.getncattr(name) for name in nc.ncattrs()}


def read_record(path: Path) -> DayRecord:
    """The :class:`DayRecord` of a day file.

    Raises:
        OSError, ValueError: the file cannot be read as netCDF.
    """
    attrs = file_attrs(path)
    fingerprint = attrs.get(FINGERPRINT_ATTR)
    return DayRecord(
        inputs=json.loads(attrs.get("inputs", "{}")),
        missing=json.loads(attrs.get("missing", "[]")),
        smap_release=str(attrs.get("smap_release", "")),
        precip_run=str(attrs.get("precip_run", "")),
        fingerprint=None if fingerprint is None else str(fingerprint),
        digests=json.loads(attrs.get(DIGESTS_ATTR, "{}")),
    )


# ---------------------------------------------------------------- writing


def day_files(layout: WorkLayout, day: date) -> tuple[Path, Path]:
    """``(fine.nc, coarse.nc)`` of ``day`` under ``layout``."""
    directory = layout.inputs_dir(day)
    return directory / "fine.nc", directory / "coarse.nc"


def write_day_inputs(
    layout: WorkLayout,
    region: Region,
    day: date,
    fine: dict[str, NDArray],
    smap: xr.Dataset,
    lags: dict[str, NDArray],
    attrs: dict[str, str],
) -> tuple[Path, Path]:
    """Write the day's gridded inputs (``fine.nc``, ``coarse.nc``), each atomically.

    Args:
        fine: every ``FINE_VARIABLES`` field on ``region.fine`` (and optionally
            :data:`PRECIP_FILLED`).
        smap: the day's SMAP on ``region.coarse`` (``sm``, ``sm_am``, ``sm_pm``).
        lags: ``sm_lag3`` and ``sm_lag7`` on ``region.coarse``.
        attrs: global attributes (:func:`day_attrs`); each file adds its :data:`DIGESTS_ATTR`.

    The fine variables are chunked on the processing tiles (:attr:`Region.tile_pixels`), so
    prediction reads whole chunks of one tile and never decompresses the whole region.
    """
    fine_path, coarse_path = day_files(layout, day)
    coarse = coarse_values(fine, smap, lags, region.factor)
    side = region.tile_pixels
    fine_chunks = (min(side, region.fine.nrows), min(side, region.fine.ncols))
    return (
        _write_atomic(_dataset(fine, region.fine, attrs), fine_path, fine_chunks),
        _write_atomic(_dataset(coarse, region.coarse, attrs), coarse_path),
    )


def add_fine_variable(
    layout: WorkLayout, region: Region, day: date, name: str, values: NDArray, attrs: Mapping[str, str]
) -> tuple[Path, Path]:
    """Put the 1 km variable ``name`` (its block mean into ``coarse.nc``) into the day's existing
    files, each rewritten atomically with ``attrs`` over its global attributes; every other
    variable keeps its stored values.

    Raises:
        MissingInputError: the day has no files yet.
    """
    fine_path, coarse_path = day_files(layout, day)
    if not (fine_path.exists() and coarse_path.exists()):
        raise MissingInputError(f"no gridded inputs for {day} ({fine_path.parent}): ingest the day first")
    side = region.tile_pixels
    fine_chunks = (min(side, region.fine.nrows), min(side, region.fine.ncols))
    fine_values, fine_attrs = _stored_values(fine_path)
    coarse_values_, coarse_attrs = _stored_values(coarse_path)
    fine_values[name] = np.asarray(values, np.float32)
    coarse_values_[name] = block_mean(fine_values[name], region.factor).astype(np.float32)
    return (
        _write_atomic(_dataset(fine_values, region.fine, {**fine_attrs, **attrs}), fine_path, fine_chunks),
        _write_atomic(_dataset(coarse_values_, region.coarse, {**coarse_attrs, **attrs}), coarse_path),
    )


def _stored_values(path: Path) -> tuple[dict[str, NDArray], dict[str, str]]:
    """A day file's variables as stored (land cover int16, not masked) and its global attributes
    without the digests (:func:`_dataset` computes them again)."""
    with xr.open_dataset(path, engine="netcdf4", mask_and_scale=False) as ds:
        values = {str(name): np.asarray(ds[name].values) for name in ds.data_vars if name != "spatial_ref"}
        attrs = {key: str(value) for key, value in ds.attrs.items() if key != DIGESTS_ATTR}
    return values, attrs


def _dataset(values: dict[str, NDArray], grid: RegionGrid, attrs: dict[str, str]) -> xr.Dataset:
    from smprod.grids.reproject import on_grid  # rasterio only when writing

    arrays = {name: np.asarray(v) for name, v in values.items()}
    data = {
        name: on_grid(v, grid, name=name, attrs={"units": FINE_UNITS.get(name, SMAP_UNITS)})
        for name, v in arrays.items()
    }
    digests = {name: array_digest(v) for name, v in arrays.items()}
    ds = xr.Dataset(data, attrs={**attrs, DIGESTS_ATTR: json.dumps(digests, sort_keys=True)})
    if "landcover" in ds:
        ds["landcover"].attrs["_FillValue"] = LANDCOVER_NODATA
    return ds


def _write_atomic(ds: xr.Dataset, target: Path, chunks: tuple[int, int] | None = None) -> Path:
    """Write ``ds`` as netCDF-4 to a temporary sibling of ``target``, then rename it onto ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        encoding: dict[str, dict[str, Any]] = {
            str(name): {"zlib": True, "complevel": 1, **({"chunksizes": chunks} if chunks else {})}
            for name in ds.data_vars
        }
        ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


# ---------------------------------------------------------------- reading


#: Tiles are predicted on threads: one opens a file (and sets the chunk cache) at a time.
_OPEN_LOCK = threading.RLock()
#: Held around every netCDF-C call this module makes with netCDF4 directly (window reads, opening
#: and closing the handles): netCDF-C and HDF5 are not thread-safe. It is xarray's own lock for
#: them, so these calls are serialized with xarray's reads and with its closing of files that
#: were dropped, in whatever thread either happens. Taken after ``_OPEN_LOCK``, never before.
_NETCDF_LOCK = NETCDF4_PYTHON_LOCK
#: Handles of stores dropped without :meth:`InputStore.close`. A netCDF4 dataset whose variables
#: were read is in a reference cycle, so left to itself it is closed by the cyclic garbage
#: collector, in any thread, without a lock: with another thread inside netCDF-C that crashed
#: the process (a segfault within seconds when a store is dropped while tiles are read). They
#: are closed here instead, under the locks, by the next read or close of any store.
_DROPPED: list[netCDF4.Dataset] = []


def _close_dropped() -> None:
    """Close the handles of dropped stores; the caller holds ``_OPEN_LOCK`` and ``_NETCDF_LOCK``."""
    while _DROPPED:
        _DROPPED.pop().close()


def _with_fine_chunk_cache(opener: Callable[[], T]) -> T:
    """Run ``opener`` with the netCDF-C chunk cache of the 1 km inputs (it is set per open)."""
    size, nelems, preemption = netCDF4.get_chunk_cache()
    netCDF4.set_chunk_cache(FINE_CHUNK_CACHE, nelems, preemption)
    try:
        return opener()
    finally:
        netCDF4.set_chunk_cache(size, nelems, preemption)


def _open_lazy(path: Path) -> xr.Dataset:
    """Open a 1 km input file without reading its arrays (windows are read on demand)."""
    return _with_fine_chunk_cache(lambda: xr.open_dataset(path, engine="netcdf4", cache=False))


def _open_handle(path: Path) -> netCDF4.Dataset:
    """A 1 km input file opened with netCDF4 for window reads, values left as stored."""
    handle = _with_fine_chunk_cache(lambda: netCDF4.Dataset(path))
    handle.set_auto_maskandscale(False)
    return handle


def _decoded(raw: NDArray, fill: Any) -> NDArray:
    """A window as xarray's CF decoding gives it: the fill value as NaN, integers as float32.

    The input files are this package's own (:func:`write_day_inputs`): no scale factors or offsets.
    """
    if raw.dtype.kind == "f":
        if fill is not None and not np.isnan(fill):
            raw = np.where(raw == fill, np.nan, raw).astype(raw.dtype)
        return raw
    if fill is None:
        return raw
    out = raw.astype(np.float32)
    out[raw == fill] = np.nan
    return out


@dataclass
class InputStore:
    """Read-only access to the gridded day inputs under a work directory.

    Coarse files are small and loaded whole; 1 km files stay on disk and are read window by
    window, so memory follows the tile being predicted, not the region. Open files are kept
    (at most :data:`MAX_OPEN_FILES`, oldest closed first) because gap filling revisits the
    neighbouring days for every tile.

    ``days``: when given, the store holds only these days (the others are "not ingested"), so a
    product day reads exactly the days its input key was made of, whatever is ingested meanwhile.
    """

    layout: WorkLayout
    days: frozenset[date] | None = None
    _cache: dict[tuple[date, str], xr.Dataset] = field(default_factory=dict)
    _handles: dict[date, netCDF4.Dataset] = field(default_factory=dict)

    def path(self, day: date, scale: str) -> Path:
        return self.layout.inputs_dir(day) / f"{scale}.nc"

    def has(self, day: date) -> bool:
        if self.days is not None and day not in self.days:
            return False
        return self.path(day, "fine").exists() and self.path(day, "coarse").exists()

    def only(self, days: Collection[date]) -> InputStore:
        """A store of the same work directory holding only ``days``."""
        return InputStore(self.layout, frozenset(days))

    def record(self, day: date, scale: str) -> DayRecord:
        """The :class:`DayRecord` of the day's ``fine`` or ``coarse`` file (attributes only)."""
        return read_record(self.path(day, scale))

    def open(self, day: date, scale: str) -> xr.Dataset:
        """The day's ``fine`` (lazy) or ``coarse`` (loaded) dataset.

        Raises:
            MissingInputError: the day was not ingested.
        """
        key = (day, scale)
        with _OPEN_LOCK:
            return self._open_locked(key)

    def _checked_path(self, day: date, scale: str) -> Path:
        """The day's file, or MissingInputError when the store does not hold the day."""
        path = self.path(day, scale)
        if self.days is not None and day not in self.days:
            raise MissingInputError(f"{day} is not among the days this store was limited to")
        if not path.exists():
            raise MissingInputError(f"no gridded inputs for {day} ({path}): run smprod ingest first")
        return path

    def _open_locked(self, key: tuple[date, str]) -> xr.Dataset:
        day, scale = key
        if key not in self._cache:
            path = self._checked_path(day, scale)
            if scale == "fine":
                self._cache[key] = _open_lazy(path)
            else:
                with xr.open_dataset(path) as ds:
                    self._cache[key] = ds.load()
            while len(self._cache) > MAX_OPEN_FILES:
                self._cache.pop(next(iter(self._cache))).close()
        return self._cache[key]

    def read(self, day: date, name: str, tile: RegionGrid, region: Region) -> NDArray:
        """The 1 km variable ``name`` of ``day`` over ``tile`` (a window of ``region.fine``), decoded
        as xarray decodes it (fill values to NaN, integers to float32).

        Read with netCDF4 directly: through xarray's lazy indexing a window cost about three
        times as much, and a day reads about a thousand windows (docs/models.md, "Speed and memory").
        """
        r0, c0 = tile.row0 - region.fine.row0, tile.col0 - region.fine.col0
        with _OPEN_LOCK, _NETCDF_LOCK:  # netCDF-C is not thread-safe
            _close_dropped()
            variable = self._fine_handle(day).variables[name]
            raw = variable[r0 : r0 + tile.nrows, c0 : c0 + tile.ncols]
            fill = getattr(variable, "_FillValue", None)
        return _decoded(np.asarray(raw), fill)

    def _fine_handle(self, day: date) -> netCDF4.Dataset:
        if day not in self._handles:
            self._handles[day] = _open_handle(self._checked_path(day, "fine"))
            while len(self._handles) > MAX_OPEN_FILES:
                self._handles.pop(next(iter(self._handles))).close()
        return self._handles[day]

    def close(self) -> None:
        """Close the files this store has open (it reopens what it reads afterwards)."""
        with _OPEN_LOCK:
            while self._cache:  # xarray closes its files under its own lock
                self._cache.popitem()[1].close()
            with _NETCDF_LOCK:
                while self._handles:
                    self._handles.popitem()[1].close()
                _close_dropped()

    def __enter__(self) -> InputStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # Possibly inside the garbage collector, in a thread that holds the locks: hand the open
        # handles to the next read rather than wait for a lock here (see _DROPPED).
        _DROPPED.extend(getattr(self, "_handles", {}).values())

    def __getstate__(self) -> dict[str, object]:
        # Open files do not travel (to a Dask worker, say): the copy reopens what it reads.
        return {"layout": self.layout, "days": self.days, "_cache": {}, "_handles": {}}
