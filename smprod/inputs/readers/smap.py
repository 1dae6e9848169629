"""SMAP L3 radiometer soil moisture: SPL3SMP (36 km) and SPL3SMP_E (9 km), HDF5 via h5py.

Structure (SMAP L3 SM_P and SM_P_E Product Specification Documents, JPL; checked
on ``SC_SPL3SMP_008.dmr``): groups ``Soil_Moisture_Retrieval_Data_AM`` (descending, 6 AM) and
``Soil_Moisture_Retrieval_Data_PM`` (ascending, 6 PM) whose variables carry a ``_pm`` suffix;
``soil_moisture`` float32 cm3/cm3 (= m3/m3) with ``_FillValue`` -9999 and ``valid_min``/
``valid_max`` (0.02, 0.5); ``retrieval_qual_flag`` uint16 bit flags, fill 65534, bit 0 set =
retrieval *not* recommended. Arrays are the full global EASE-Grid 2.0 grid; the grid (36 or 9 km)
follows from the array shape, not from the file name.

A value is kept when it is not fill, lies inside ``[valid_min, valid_max]`` and its quality flag
is not fill and has bit 0 clear (the "recommended quality" of the PSD). The daily value is the
mean of the kept AM and PM values (one of them where only one is kept), by the day-input
contract's :func:`smprod.inputs.dayfiles.mean_valid`.

The release and the day come from the official file name (:func:`smprod.inputs.granules.parse_name`);
a renamed file takes its release from ``Metadata/DatasetIdentification`` and has no day.

Coordinates come from the EASE-Grid 2.0 definition (``smprod.grids.ease``): the files' latitude/
longitude arrays are -9999 wherever there was no retrieval.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import xarray as xr
from numpy.typing import NDArray

from smprod.errors import GranuleFormatError, GridError
from smprod.grids.ease import CRS_EASE2, GLOBAL_SHAPE, RegionGrid
from smprod.inputs.dayfiles import mean_valid
from smprod.inputs.granules import GranuleName, parse_name
from smprod.inputs.readers import open_hdf5

#: (group, variable suffix) of the AM and PM retrievals (PSD, "Data Products" tables).
PASSES = {"am": ("Soil_Moisture_Retrieval_Data_AM", ""), "pm": ("Soil_Moisture_Retrieval_Data_PM", "_pm")}
SOIL_MOISTURE = "soil_moisture"
QUALITY_FLAG = "retrieval_qual_flag"
#: Fill values of the PSD (float variables -9999.0, uint16 flags 65534).
FILL_FLOAT = -9999.0
FILL_FLAG = 65534
#: retrieval_qual_flag bit 0: 1 = retrieval not recommended (PSD flag table).
NOT_RECOMMENDED_BIT = 1 << 0
#: Valid range when the file omits valid_min/valid_max (PSD: 0.02 .. 0.5 cm3/cm3).
DEFAULT_VALID_RANGE = (0.02, 0.5)
#: Global array shape -> EASE-Grid 2.0 resolution (km) and product short name.
SHAPE_GRID = {GLOBAL_SHAPE[36]: (36, "SPL3SMP"), GLOBAL_SHAPE[9]: (9, "SPL3SMP_E")}


def quality_mask(
    sm: NDArray[np.floating], flag: NDArray[np.integer], valid_range: tuple[float, float]
) -> NDArray[np.bool_]:
    """Kept retrievals: not fill, inside the valid range, recommended quality (flag bit 0 clear)."""
    low, high = valid_range
    flag = np.asarray(flag)
    return (
        (sm != FILL_FLOAT)
        & np.isfinite(sm)
        & (sm >= low)
        & (sm <= high)
        & (flag != FILL_FLAG)
        & ((flag & NOT_RECOMMENDED_BIT) == 0)
    )


def smap_name(name: str) -> GranuleName | None:
    """The parsed official SMAP L3 name (release ``R19240_001`` = composite release + counter), or None."""
    granule = parse_name(name)
    return granule if granule is not None and granule.family == "SMAP" else None


def _attr_float(ds: h5py.Dataset, key: str, default: float) -> float:
    value = ds.attrs.get(key)
    return float(np.ravel(value)[0]) if value is not None else default


def _grid_window(shape: tuple[int, int], window: RegionGrid | None, path: Path) -> RegionGrid:
    """The window (at the file's resolution) to read: the whole globe or ``window``'s area."""
    if shape not in SHAPE_GRID:
        raise GranuleFormatError(
            path,
            f"array shape {shape} is neither the 36 km {GLOBAL_SHAPE[36]} nor the 9 km "
            f"{GLOBAL_SHAPE[9]} EASE-Grid 2.0 global grid",
        )
    km = SHAPE_GRID[shape][0]
    if window is None:
        return RegionGrid(km, 0, 0, *shape)
    if window.km % km:
        raise GridError(f"a {window.km} km window does not nest in the {km} km grid of {path.name}")
    refined = window.refine(km)
    if (
        refined.row0 < 0
        or refined.col0 < 0
        or refined.row0 + refined.nrows > shape[0]
        or refined.col0 + refined.ncols > shape[1]
    ):
        raise GridError(f"window {window} lies outside the global {km} km grid")
    return refined


def _read_pass(f: h5py.File, pass_: str, rows: slice, cols: slice, path: Path) -> NDArray[np.float32]:
    group_name, sfx = PASSES[pass_]
    try:
        sm_ds = f[f"{group_name}/{SOIL_MOISTURE}{sfx}"]
        flag_ds = f[f"{group_name}/{QUALITY_FLAG}{sfx}"]
    except KeyError as err:
        raise GranuleFormatError(
            path, f"missing {group_name}/{SOIL_MOISTURE}{sfx} or {QUALITY_FLAG}{sfx}"
        ) from err
    valid_range = (
        _attr_float(sm_ds, "valid_min", DEFAULT_VALID_RANGE[0]),
        _attr_float(sm_ds, "valid_max", DEFAULT_VALID_RANGE[1]),
    )
    sm = sm_ds[rows, cols]  # hyperslab: only the window is read from disk
    keep = quality_mask(sm, flag_ds[rows, cols], valid_range)
    return np.where(keep, sm, np.nan).astype(np.float32)


def _global_shape(f: h5py.File, path: Path) -> tuple[int, int]:
    group_name, _ = PASSES["am"]
    ds = f.get(f"{group_name}/{SOIL_MOISTURE}")
    if not isinstance(ds, h5py.Dataset) or ds.ndim != 2:
        raise GranuleFormatError(
            path, f"no 2-D {group_name}/{SOIL_MOISTURE} (not an SPL3SMP/SPL3SMP_E granule)"
        )
    return (int(ds.shape[0]), int(ds.shape[1]))


def _metadata_release(f: h5py.File) -> str | None:
    value = f.get("Metadata/DatasetIdentification")
    if value is None or "CompositeReleaseID" not in value.attrs:
        return None
    raw = value.attrs["CompositeReleaseID"]
    return raw.decode() if isinstance(raw, bytes) else str(np.ravel(raw)[0])


def read_smap_l3(path: str | Path, window: RegionGrid | None = None) -> xr.Dataset:
    """Read an SPL3SMP or SPL3SMP_E granule with recommended-quality retrievals only.

    Args:
        path: the ``.h5`` granule.
        window: read only this area (a ``RegionGrid`` at the file's resolution or a coarser
            one that nests in it, e.g. the region's 36 km grid for a 9 km file); None reads the globe.

    Returns:
        Dataset with ``sm`` (daily mean), ``sm_am``, ``sm_pm`` (float32, m3/m3, NaN where rejected)
        on dims ``y, x`` (EASE-Grid 2.0 metres, EPSG:6933); attrs ``product`` (SPL3SMP or
        SPL3SMP_E), ``grid_km``, ``release`` (e.g. ``R19240_001``), ``day`` (ISO date from the
        name, if official), ``source``, ``granule_id``.

    Raises:
        GranuleFormatError: the file cannot be opened as HDF5 or lacks the required variables.
        GridError: ``window`` does not nest in the file's grid.
    """
    return _as_dataset(read_smap_arrays(path, window))


@dataclass(frozen=True)
class SmapArrays:
    """What :func:`read_smap_l3` reads, as plain arrays (ingest's path, without xarray).

    Attributes:
        path: the granule.
        grid: the EASE-Grid 2.0 window the arrays cover (the file's resolution).
        values: ``sm``, ``sm_am``, ``sm_pm`` (float32, NaN where rejected).
        release: as :func:`read_smap_l3`'s ``release`` attribute.
        official: the parsed official name, or None.
    """

    path: Path
    grid: RegionGrid
    values: dict[str, NDArray[np.float32]]
    release: str
    official: GranuleName | None


def read_smap_arrays(path: str | Path, window: RegionGrid | None = None) -> SmapArrays:
    """:func:`read_smap_l3`'s reading (same checks and errors), returned as :class:`SmapArrays`."""
    path = Path(path)
    f = open_hdf5(path)
    try:
        grid = _grid_window(_global_shape(f, path), window, path)
        rows, cols = grid.to_global()
        try:
            am, pm = (_read_pass(f, p, rows, cols, path) for p in ("am", "pm"))
        except (OSError, ValueError) as err:  # truncated or corrupt: opens, then a chunk read fails
            raise GranuleFormatError(path, f"data cannot be read ({err})") from err
        official = smap_name(path.name)
        release = (official.release_id if official else None) or _metadata_release(f) or ""
    finally:
        f.close()
    return SmapArrays(path, grid, {"sm": mean_valid([am, pm]), "sm_am": am, "sm_pm": pm}, release, official)


def _as_dataset(smap: SmapArrays) -> xr.Dataset:
    import rioxarray  # noqa: F401  (registers the .rio accessor)

    path, grid, official = smap.path, smap.grid, smap.official
    attrs = {"units": "m3/m3"}
    variables = {name: (("y", "x"), values, attrs) for name, values in smap.values.items()}
    ds = xr.Dataset(variables, coords=grid.coords())
    ds.attrs.update(
        product=SHAPE_GRID[GLOBAL_SHAPE[grid.km]][1],
        grid_km=grid.km,
        release=smap.release,
        day=official.day.isoformat() if official else "",
        source=str(path),
        granule_id=path.name,
        row0=grid.row0,
        col0=grid.col0,
    )
    return ds.rio.write_crs(CRS_EASE2).rio.write_transform(grid.transform)
