"""Read a product day back, or check it: the consumers' half of the "Products" contract in
``docs/architecture.md`` (validation, catalog and access read the COGs through here only).

* :func:`read_layers` / :func:`read_product`: the pixels (all, or a window), as arrays or one
  dataset, with the provenance record.
* :func:`band_headers`: what each COG says about its band (type, nodata, scale/offset, unit,
  pixel size) and the statistics of its valid pixels, accumulated tile by tile so memory does not
  grow with the region (the catalog's ``raster:bands``).
* :func:`product_problems`: everything wrong with a written day.

Each of them reads one version of the day: a read during which the day's directory was switched
(:mod:`smprod.product.dayswitch`) is repeated, and a switch whose writer was killed half-way
through the rename journal (filesystems without ``RENAME_EXCHANGE``) is finished first.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from affine import Affine
from numpy.typing import NDArray

from smprod.errors import ProductError
from smprod.grids.ease import Region, RegionGrid
from smprod.layout import COG_ASSETS, ProductFiles
from smprod.product.bands import BANDS
from smprod.product.cog import cog_problems
from smprod.product.dayswitch import finish_switch, one_version
from smprod.product.provenance import file_record
from smprod.product.thumbnail import MAX_SIDE

if TYPE_CHECKING:
    import xarray as xr
    from rasterio.io import DatasetReader
    from rasterio.windows import Window


def product_problems(files: ProductFiles, region: Region) -> list[str]:
    """Everything wrong with a written product day (empty list = complete and consistent).

    Checks that every file exists, each COG is a valid COG on ``region.fine`` (CRS, transform,
    shape), the thumbnail fits :data:`~smprod.product.thumbnail.MAX_SIDE`, and the provenance parses and
    its checksums match the files, all of one version of the day. Leftovers of killed writers
    beside the day (hidden, never published) are not problems of the day: see
    :func:`smprod.product.dayswitch.settle_day`.
    """
    finish_switch(files.directory)
    return one_version(files.directory, lambda: _problems(files, region))


def _problems(files: ProductFiles, region: Region) -> list[str]:
    missing = [str(p) for p in files.assets().values() if not p.exists()]
    if missing:
        return [f"missing: {', '.join(missing)}"]
    problems = []
    for key, path in files.cogs().items():
        problems += [f"{key}: {p}" for p in cog_problems(path) + _grid_problems(path, region)]
    problems += _thumbnail_problems(files.thumbnail)
    return problems + _provenance_problems(files)


def _grid_problems(path: Path, region: Region) -> list[str]:
    import rasterio

    with rasterio.open(path) as ds:
        problems = []
        if ds.shape != region.fine.shape:
            problems.append(f"shape {ds.shape} differs from the region's {region.fine.shape}")
        if not ds.transform.almost_equals(region.fine.transform, precision=1e-6):
            problems.append(f"transform {tuple(ds.transform)[:6]} differs from the region's")
        return problems


def _thumbnail_problems(path: Path) -> list[str]:
    from PIL import Image

    with Image.open(path) as image:
        if max(image.size) > MAX_SIDE:
            return [f"thumbnail is {image.size}, larger than {MAX_SIDE} px"]
    return []


def _provenance_problems(files: ProductFiles) -> list[str]:
    try:
        record = json.loads(files.provenance.read_text())
    except (OSError, ValueError) as err:
        return [f"provenance unreadable: {err}"]
    problems = []
    paths = {**files.cogs(), "thumbnail": files.thumbnail}
    for key, path in paths.items():
        expected = record.get("assets", {}).get(key, {}).get("sha256")
        if expected != file_record(path, href=path.name)["sha256"]:
            problems.append(f"{key}: checksum differs from the provenance record")
    return problems


@dataclass(frozen=True)
class ProductLayers:
    """The COG layers of a product day (or a window of them) as arrays, with their metadata.

    Attributes:
        day: the product day.
        layers: asset key (``soil_moisture``, ``qa``, ``uncertainty``) -> 2-D array in the file's
            type (float32 with NaN, uint8 with :data:`QA_NODATA`).
        transform: affine transform of the window read (of the whole file without a window).
        units: asset key -> the band unit written in the file (``""`` for ``qa``).
        nodata: asset key -> the band's nodata value.
        provenance: the day's provenance record.
    """

    day: date
    layers: dict[str, NDArray]
    transform: Affine
    units: dict[str, str]
    nodata: dict[str, float]
    provenance: dict[str, Any]


def read_layers(
    files: ProductFiles,
    window: tuple[slice, slice] | None = None,
    grid: RegionGrid | None = None,
    assets: Sequence[str] = COG_ASSETS,
) -> ProductLayers:
    """Read a day's COGs, or only a window of them (the tiles it touches), and its provenance.

    Args:
        files: the day's paths (``WorkLayout.product_files(day)``).
        window: ``(rows, cols)`` slices of the product's grid to read, e.g. ``(slice(r, r + 1),
            slice(c, c + 1))`` for one pixel; None reads every pixel.
        grid: the 1 km grid the files must be on (the configured region's ``fine``); None: not
            checked.
        assets: the COGs to read (default all three); the others are neither opened nor needed.

    Raises:
        ProductError: if a file is missing or unreadable, is not on ``grid``, or the window
            does not lie inside the file.
    """
    finish_switch(files.directory)
    return one_version(files.directory, lambda: _read_layers(files, window, grid, assets))


def _read_layers(
    files: ProductFiles, window: tuple[slice, slice] | None, grid: RegionGrid | None, assets: Sequence[str]
) -> ProductLayers:
    import rasterio
    from rasterio.errors import RasterioError

    layers, units, nodata = {}, {}, {}
    try:
        record = json.loads(files.provenance.read_text())
        for key in assets:
            path = files.cogs()[key]
            with rasterio.open(path) as ds:
                _check_file_grid(path, ds.shape, ds.transform, grid)
                read_window = _window(path, ds.shape, window)
                layers[key] = ds.read(1, window=read_window)
                units[key], nodata[key] = ds.units[0], ds.nodata
                transform = _window_transform(ds.transform, read_window)
    except (OSError, ValueError, RasterioError) as err:
        raise ProductError(f"product {files.day} cannot be read: {err}") from err
    return ProductLayers(files.day, layers, transform, units, nodata, record)


def _check_file_grid(path: Path, shape: tuple[int, int], transform: Affine, grid: RegionGrid | None) -> None:
    if grid is None:
        return
    if shape != grid.shape or not transform.almost_equals(grid.transform, precision=1e-6):
        raise ProductError(
            f"{path} is not on the configured region's 1 km grid (shape {shape}, expected "
            f"{grid.shape}); was it produced for another --bbox or coarse product?"
        )


def _window(path: Path, shape: tuple[int, int], window: tuple[slice, slice] | None) -> Window | None:
    from rasterio.windows import Window

    if window is None:
        return None
    (row0, row1), (col0, col1) = (_span(part, size) for part, size in zip(window, shape, strict=True))
    if not (0 <= row0 < row1 <= shape[0] and 0 <= col0 < col1 <= shape[1]):
        raise ProductError(
            f"window rows {row0}:{row1}, cols {col0}:{col1} is not inside {path} "
            f"({shape[0]} x {shape[1]} pixels); was it produced for another --bbox?"
        )
    return Window(col0, row0, col1 - col0, row1 - row0)


def _window_transform(transform: Affine, window: Window | None) -> Affine:
    """The transform of a window's pixels (``@``: Affine's ``*`` is deprecated)."""
    if window is None:
        return transform
    return transform @ Affine.translation(window.col_off, window.row_off)


def _span(part: slice, size: int) -> tuple[int, int]:
    """Start and stop of a step-1 slice (open ends: the file's edges)."""
    if part.step not in (None, 1):
        raise ProductError(f"window slice {part} has a step: only contiguous windows can be read")
    return (0 if part.start is None else part.start), (size if part.stop is None else part.stop)


@dataclass(frozen=True)
class BandStatistics:
    """Statistics of a band's valid (not nodata, finite) pixels at full resolution.

    ``minimum``, ``maximum``, ``mean`` and ``stddev`` (population) are None without a valid pixel.
    """

    valid_percent: float
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    stddev: float | None = None


@dataclass(frozen=True)
class BandHeader:
    """What a single-band COG says about its band, and the statistics of its pixels.

    Attributes:
        data_type: the band's type as GDAL names it (``float32``, ``uint8``).
        nodata: the band's nodata value (NaN for the float layers), None if unset.
        scale, offset: the band's scale and offset (1 and 0 here: values are stored as they are).
        unit: the band's unit (``""`` when unset, as for ``qa``).
        resolution: the pixel size along x, in the CRS's units (m).
        statistics: of the valid pixels (:class:`BandStatistics`).
    """

    data_type: str
    nodata: float | None
    scale: float
    offset: float
    unit: str
    resolution: float
    statistics: BandStatistics


def band_headers(files: ProductFiles) -> dict[str, BandHeader]:
    """COG asset key -> :func:`band_header` of the day's file.

    Raises:
        ProductError: if a COG is missing or unreadable.
    """
    finish_switch(files.directory)
    return one_version(
        files.directory, lambda: {key: band_header(path) for key, path in files.cogs().items()}
    )


def band_header(path: Path) -> BandHeader:
    """The :class:`BandHeader` of band 1 of the COG at ``path``, its statistics read tile by tile.

    Raises:
        ProductError: if the file is missing or unreadable.
    """
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as src:
            return BandHeader(
                data_type=src.dtypes[0],
                nodata=src.nodata,
                scale=src.scales[0],
                offset=src.offsets[0],
                unit=src.units[0] or "",
                resolution=src.res[0],
                statistics=_band_statistics(src),
            )
    except (OSError, RasterioError) as err:
        raise ProductError(f"{path} cannot be read: {err}") from err


def _band_statistics(src: DatasetReader) -> BandStatistics:
    """Band 1's statistics, accumulated block by block (the COG's 512 px tiles) so memory does
    not grow with the region."""
    count, total, squares, low, high = 0, 0.0, 0.0, math.inf, -math.inf
    for _, window in src.block_windows(1):
        values = src.read(1, window=window, masked=True).astype(np.float64).compressed()
        values = values[np.isfinite(values)]
        if values.size:
            count += values.size
            total += float(values.sum())
            squares += float((values**2).sum())
            low, high = min(low, float(values.min())), max(high, float(values.max()))
    valid_percent = 100.0 * count / (src.width * src.height)
    if not count:
        return BandStatistics(valid_percent)
    mean = total / count
    return BandStatistics(valid_percent, low, high, mean, math.sqrt(max(squares / count - mean * mean, 0.0)))


def read_product(
    files: ProductFiles, window: tuple[slice, slice] | None = None, grid: RegionGrid | None = None
) -> xr.Dataset:
    """The day's layers as one dataset (dims ``y, x``, CRS set) with the provenance in ``attrs``.

    Variables keep their file types: ``soil_moisture`` and ``uncertainty`` float32 with NaN,
    ``qa`` uint8 (attrs ``flag_masks``/``flag_meanings``). ``attrs`` holds the provenance record's
    top-level scalars and ``attrs["provenance"]`` the whole record as JSON text. ``window`` and
    ``grid`` are those of :func:`read_layers`: with a window, only its pixels are read, and the
    coordinates and transform are the window's.

    Raises:
        ProductError: if a file is missing or unreadable, not on ``grid``, or outside the window.
    """
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    import xarray as xr

    read = read_layers(files, window, grid)
    variables = {
        key: (("y", "x"), array, {"units": read.units[key], "nodata": read.nodata[key]})
        for key, array in read.layers.items()
    }
    rows, cols = read.layers["soil_moisture"].shape
    transform = read.transform
    coords = {"y": transform.f + (np.arange(rows) + 0.5) * transform.e,
              "x": transform.c + (np.arange(cols) + 0.5) * transform.a}  # fmt: skip
    dataset = xr.Dataset(variables, coords=coords)
    dataset["qa"].attrs.update({k: BANDS["qa"].tags[k] for k in ("flag_masks", "flag_meanings")})
    dataset.attrs.update(_scalar_attrs(read.provenance))
    dataset.attrs["provenance"] = json.dumps(read.provenance, sort_keys=True)
    return dataset.rio.write_crs("EPSG:6933").rio.write_transform(transform)


def _scalar_attrs(record: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if isinstance(value, str | int | float)}
