"""Cloud-Optimized GeoTIFFs of the product: the profile, a deterministic writer and a validator.

The profile follows the COG definition (https://cogeo.org; GDAL COG driver documentation,
https://gdal.org/drivers/raster/cog.html) and the "Products" contract in ``docs/architecture.md``:
512 x 512 internal tiles, overviews, lossless compression with a predictor, nodata set.

Determinism (same array + metadata -> same bytes) holds because GDAL writes no timestamp unless
``TIFFTAG_DATETIME`` is given (we never give one), the software tag is fixed, compression runs in
one thread, and every metadata item comes from the caller in a fixed order.

The validator re-implements the structural checks of GDAL's ``validate_cloud_optimized_geotiff.py``
through rasterio (which exposes the TIFF ``IFD_OFFSET`` and ``BLOCK_OFFSET_x_y`` items): IFDs of
the full-resolution image and its overviews come first, in decreasing size, and the tile data of
smaller overviews comes before that of larger ones, so a reader fetches the header in one request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from affine import Affine
from numpy.typing import NDArray

from smprod.errors import ProductError
from smprod.grids.ease import CRS_EASE2

#: Internal tile size in pixels (COG best practice; the design asks for 512 px tiles).
BLOCKSIZE = 512
#: GDAL COG driver creation options shared by every band. DEFLATE is readable by every GDAL and
#: by browser COG readers; PREDICTOR=YES picks the floating-point predictor (3) for float32 and
#: horizontal differencing (2) for integers. NUM_THREADS=1 keeps output independent of the host.
COG_OPTIONS: dict[str, str] = {
    "BLOCKSIZE": str(BLOCKSIZE),
    "COMPRESS": "DEFLATE",
    "LEVEL": "6",
    "PREDICTOR": "YES",
    "BIGTIFF": "IF_SAFER",
    "NUM_THREADS": "1",
}
#: Overviews are built until the largest side is at most this many pixels (at least one level,
#: so every product, however small, has the overview pyramid the COG contract promises).
SMALLEST_OVERVIEW = 256


@dataclass(frozen=True)
class BandSpec:
    """How one single-band COG is written.

    Attributes:
        name: band description (the asset key).
        dtype: numpy/GDAL data type of the file.
        nodata: value that marks missing pixels (NaN for floats).
        units: physical unit written as the band unit ("" for unitless).
        resampling: GDAL overview resampling ("AVERAGE" for continuous, "NEAREST" for flags).
        tags: extra band metadata (e.g. the QA bit meanings).
    """

    name: str
    dtype: str
    nodata: float
    units: str
    resampling: str
    tags: Mapping[str, str] = field(default_factory=dict)


def overview_count(shape: tuple[int, int]) -> int:
    """Number of overview levels (factors 2, 4, ...) so the smallest fits :data:`SMALLEST_OVERVIEW`."""
    largest, levels = max(shape), 1
    while largest / 2**levels > SMALLEST_OVERVIEW:
        levels += 1
    return levels


def write_cog(
    path: Path,
    array: NDArray,
    transform: Affine,
    spec: BandSpec,
    dataset_tags: Mapping[str, str],
) -> None:
    """Write one band as a COG on EPSG:6933 (not atomic: write to a temporary path and rename).

    GDAL makes the COG in memory and Python writes its bytes: a failed write (a full disk, a
    quota) is then an ``OSError`` with its errno (``No space left on device``), where GDAL's own
    writer said only ``TIFFWriteDirectoryTagData:IO error writing tag data`` (a traceback).

    Args:
        path: file to create (overwritten).
        array: 2-D values, cast to ``spec.dtype``.
        transform: pixel-corner affine transform (``RegionGrid.transform``).
        spec: band description, nodata, units, overview resampling.
        dataset_tags: file-level metadata (no timestamps, or determinism is lost).
    """
    data = np.asarray(array).astype(spec.dtype, copy=False)
    Path(path).write_bytes(_cog_bytes(data, transform, spec, dataset_tags))


def _cog_bytes(data: NDArray, transform: Affine, spec: BandSpec, dataset_tags: Mapping[str, str]) -> bytes:
    """The COG file of one band, made by GDAL's COG driver in memory."""
    import rasterio
    from rasterio.io import MemoryFile
    from rasterio.shutil import copy

    with (
        MemoryFile(ext=".tif") as cog,
        rasterio.open("mem", "w", **_memory_profile(data, transform, spec)) as mem,
    ):
        mem.write(data, 1)
        mem.set_band_description(1, spec.name)
        mem.set_band_unit(1, spec.units)
        mem.update_tags(**dict(dataset_tags))
        mem.update_tags(1, **dict(spec.tags))
        options = {
            **COG_OPTIONS,
            "OVERVIEW_RESAMPLING": spec.resampling,
            "OVERVIEW_COUNT": str(overview_count(data.shape)),
        }
        copy(mem, cog.name, driver="COG", **options)
        return bytes(cog.read())


def _memory_profile(data: NDArray, transform: Affine, spec: BandSpec) -> dict[str, object]:
    """The in-memory dataset the COG is copied from: one band on EPSG:6933."""
    return {
        "driver": "MEM",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": spec.dtype,
        "crs": CRS_EASE2.to_wkt(),
        "transform": transform,
        "nodata": spec.nodata,
    }


def cog_problems(path: Path) -> list[str]:
    """Structural problems that make ``path`` not a valid COG of this product (empty = valid).

    Checks: GeoTIFF, EPSG:6933, nodata set, compressed, 512 x 512 tiles in the full image and
    every overview, at least one overview, the GDAL COG layout marker, IFDs before the data in
    decreasing size, and the data of smaller overviews before that of larger ones.
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as ds:
            problems = _dataset_problems(ds)
            levels = len(ds.overviews(1))
            ifds = [_tiff_int(ds, "IFD_OFFSET"), *[0] * levels]
            firsts = [_tiff_int(ds, "BLOCK_OFFSET_0_0"), *[0] * levels]
        for level in range(levels):
            with rasterio.open(path, overview_level=level) as ovr:
                if ovr.block_shapes[0] != (BLOCKSIZE, BLOCKSIZE):
                    problems.append(f"overview {level} tiles are {ovr.block_shapes[0]}, not {BLOCKSIZE}")
                ifds[level + 1] = _tiff_int(ovr, "IFD_OFFSET")
                firsts[level + 1] = _tiff_int(ovr, "BLOCK_OFFSET_0_0")
    except RasterioIOError as err:
        return [f"cannot be opened as a raster: {err}"]
    return problems + _order_problems(ifds, firsts)


def check_cog(path: Path) -> None:
    """Raise :class:`ProductError` listing every problem when ``path`` is not a valid COG."""
    problems = cog_problems(path)
    if problems:
        raise ProductError(f"{path} is not a valid COG: " + "; ".join(problems))


def _dataset_problems(ds) -> list[str]:  # type: ignore[no-untyped-def]
    problems = []
    if ds.driver != "GTiff":
        problems.append(f"driver is {ds.driver}, not GTiff")
    if ds.crs is None or ds.crs.to_epsg() != CRS_EASE2.to_epsg():
        problems.append(f"CRS is {ds.crs}, not EPSG:6933")
    if ds.nodata is None:
        problems.append("nodata is not set")
    if ds.compression is None:
        problems.append("not compressed")
    if ds.block_shapes[0] != (BLOCKSIZE, BLOCKSIZE):
        problems.append(f"tiles are {ds.block_shapes[0]}, not {BLOCKSIZE}x{BLOCKSIZE}")
    if not ds.overviews(1):
        problems.append("has no overviews")
    if ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") != "COG":
        problems.append("lacks the COG layout marker (not written by the COG driver)")
    return problems


def _tiff_int(ds, item: str) -> int:  # type: ignore[no-untyped-def]
    value = ds.get_tag_item(item, "TIFF", bidx=1)
    return int(value) if value not in (None, "") else 0


def _order_problems(ifds: list[int], first_blocks: list[int]) -> list[str]:
    """IFD and data order of a COG: index 0 is the full image, 1.. the overviews (largest first)."""
    problems = []
    data_start = min((b for b in first_blocks if b > 0), default=0)
    if any(offset >= data_start for offset in ifds) and data_start:
        problems.append("an IFD comes after image data (IFDs must all precede the data)")
    for i in range(1, len(ifds)):
        if ifds[i] < ifds[i - 1]:
            problems.append(f"IFD of overview {i - 1} precedes the IFD of the larger image")
        if first_blocks[i] and first_blocks[i - 1] and first_blocks[i] > first_blocks[i - 1]:
            problems.append(f"data of overview {i - 1} comes after the data of the larger image")
    return problems
