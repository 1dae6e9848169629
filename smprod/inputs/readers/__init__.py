"""Readers: one module per granule format.

Each returns xarray objects on the granule's native grid with QC applied, physical units and fill
as NaN (the "Readers" contract in docs/architecture.md); problems raise GranuleFormatError.
:func:`reader_for` picks the reader from an official file name, parsed by the one name grammar
(:func:`smprod.inputs.granules.parse_name`), so callers and readers need not repeat the naming
rules. ISMN station files (``*.stm``) and static GeoTIFFs are not granules: they go by extension.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smprod.errors import GranuleFormatError, GranuleRegionError
from smprod.inputs.granules import parse_name

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from smprod.grids.ease import RegionGrid

#: Granule family (:attr:`GranuleName.family`) -> "module:function" of its reader.
FAMILY_READERS = {
    "SMAP": "smap:read_smap_l3",
    "MODIS": "modis:read_modis",
    "IMERG": "imerg:read_imerg",
    "SIF": "sif:read_gosif",
}
#: Files that are not granules, by name pattern -> "module:function" of the reader.
_OTHER_READERS = (
    (re.compile(r"^.+\.stm$"), "ismn:read_stm"),
    (re.compile(r"^.+\.tif{1,2}$", re.IGNORECASE), "static:read_static"),
)


def reader_for(name: str) -> Callable[..., Any] | None:
    """The reader function for a file name, or None if no reader knows the name."""
    granule = parse_name(name)
    if granule is not None:
        return _load(FAMILY_READERS[granule.family])
    for pattern, target in _OTHER_READERS:
        if pattern.match(name):
            return _load(target)
    return None


def _load(target: str) -> Callable[..., Any]:
    from importlib import import_module

    module, function = target.split(":")
    return getattr(import_module(f"smprod.inputs.readers.{module}"), function)  # type: ignore[no-any-return]


def open_hdf5(path: Path, kind: str = "HDF5") -> Any:
    """``path`` opened read-only with h5py (the caller closes it).

    Raises:
        GranuleFormatError: the file does not exist, or is not a readable ``kind`` file (e.g.
            ``"netCDF-4/HDF5"``), naming the file and the library's reason.
    """
    import h5py

    if not path.is_file():
        raise GranuleFormatError(path, "file does not exist")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise GranuleFormatError(path, f"not a readable {kind} file ({err})") from err


def lonlat_window(
    lon: NDArray[np.float64], lat: NDArray[np.float64], window: RegionGrid | None, path: Path, margin: float
) -> dict[str, slice]:
    """Index slices of the cells of a lon/lat grid (cell-centre ``lon``, ``lat``) covering
    ``window`` plus ``margin`` degrees, so bilinear weights at its edge have neighbours (IMERG,
    GOSIF); every cell without a ``window``.

    Raises:
        GranuleRegionError: no cell of the grid is that near ``window``.
    """
    import numpy as np

    if window is None:
        return {"lon": slice(None), "lat": slice(None)}
    minlon, minlat, maxlon, maxlat = window.lonlat_bounds()
    select = {}
    for dim, coord, low, high in (("lon", lon, minlon, maxlon), ("lat", lat, minlat, maxlat)):
        inside = np.nonzero((coord >= low - margin) & (coord <= high + margin))[0]
        if inside.size == 0:
            raise GranuleRegionError(path, f"no {dim} cell within {low:.2f}..{high:.2f} degrees")
        select[dim] = slice(int(inside.min()), int(inside.max()) + 1)
    return select
