"""The day's product files: write them atomically and deterministically, check them, read them back.

A product day is the set of files in :class:`smprod.layout.ProductFiles` ("Products" contract in
``docs/architecture.md``): COGs ``soil_moisture`` (float32 m3/m3, nodata NaN), ``qa`` (uint8 bit
flags of :class:`smprod.qa.QA`, nodata 255, which no flag combination reaches), ``uncertainty``
(float32 m3/m3, 1 sigma, nodata NaN) on the region's EASE-Grid 2.0 1 km grid, the thumbnail PNG
and the provenance JSON.

Decisions that live here:

* **All or nothing.** Every file is first written to a temporary file beside its target, checked
  (COG structure), fsynced, and only when all five are complete are they renamed over the
  targets. A failure at any point removes the temporaries and leaves the previous product (or
  none) in place.
* **One missing-value rule.** A pixel without soil moisture has NaN uncertainty and carries
  ``QA.NO_RETRIEVAL``, whatever the caller passed.
* **Determinism.** Same arrays and :class:`~smprod.provenance.ProductInfo` -> byte-identical files
  (see :mod:`smprod.cog`, :mod:`smprod.thumbnail`, :mod:`smprod.provenance`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from affine import Affine
from numpy.typing import ArrayLike, NDArray

import smprod
from smprod.cog import BandSpec, check_cog, cog_problems, write_cog
from smprod.correction import (
    DEFAULT_POROSITY,
    Correction,
    conservation_blocks,
    conserve_mass_in_blocks,
    correction_summary,
)
from smprod.errors import ProductError
from smprod.grid import Region, RegionGrid
from smprod.layout import PRODUCT_ID, ProductFiles
from smprod.provenance import ProductInfo, file_record, provenance_bytes, provenance_record
from smprod.qa import QA, QA_DESCRIPTIONS
from smprod.thumbnail import MAX_SIDE, render_thumbnail

if TYPE_CHECKING:
    import xarray as xr
    from rasterio.windows import Window

#: Nodata of the qa band: above every combination of defined bits (at most 0b1001_1111 = 159).
QA_NODATA = 255
#: Largest soil moisture accepted for writing (m3/m3): anything above is a bug upstream, since the
#: correction bounds values by the porosity (at most ~0.6 for real soils).
MAX_SOIL_MOISTURE = 1.0

#: How each COG asset is written (band description, type, nodata, unit, overview resampling).
BANDS: dict[str, BandSpec] = {
    "soil_moisture": BandSpec(
        "soil_moisture",
        "float32",
        float("nan"),
        "m3/m3",
        "AVERAGE",
        {"long_name": "volumetric soil moisture, 0-5 cm, 1 km, mass-conserving to SMAP"},
    ),
    "qa": BandSpec(
        "qa",
        "uint8",
        QA_NODATA,
        "",
        "NEAREST",
        {
            "long_name": "quality flags (bit n set = condition holds)",
            "flag_masks": " ".join(str(bit) for bit in QA_DESCRIPTIONS),
            "flag_meanings": " ".join(QA_DESCRIPTIONS.values()),
            **{f"bit_{int(bit).bit_length() - 1}": name for bit, name in QA_DESCRIPTIONS.items()},
        },
    ),
    "uncertainty": BandSpec(
        "uncertainty",
        "float32",
        float("nan"),
        "m3/m3",
        "AVERAGE",
        {"long_name": "1-sigma uncertainty of soil_moisture (overviews: mean sigma, not sigma of mean)"},
    ),
}


@dataclass(frozen=True)
class ProductArrays:
    """The three per-pixel layers of a day after the missing-value rule was applied."""

    soil_moisture: NDArray[np.float32]
    qa: NDArray[np.uint8]
    uncertainty: NDArray[np.float32]

    def layer(self, key: str) -> NDArray:
        """The layer of asset ``key`` (``soil_moisture``, ``qa`` or ``uncertainty``)."""
        layers: dict[str, NDArray] = {"soil_moisture": self.soil_moisture, "qa": self.qa}
        layers["uncertainty"] = self.uncertainty
        return layers[key]


def prepare_arrays(
    region: Region, soil_moisture: ArrayLike, qa: ArrayLike, uncertainty: ArrayLike
) -> ProductArrays:
    """Check the layers against the region and apply the missing-value rule.

    Raises:
        ProductError: on a shape other than ``region.fine.shape``, soil moisture outside
            ``[0, MAX_SOIL_MOISTURE]``, negative uncertainty or QA values outside 0..254.
    """
    sm = np.asarray(soil_moisture, dtype=np.float32)
    flags = np.asarray(qa)
    sigma = np.asarray(uncertainty, dtype=np.float32)
    for name, layer in (("soil_moisture", sm), ("qa", flags), ("uncertainty", sigma)):
        if layer.shape != region.fine.shape:
            raise ProductError(
                f"{name} has shape {layer.shape}, the region's 1 km grid is {region.fine.shape}"
            )
    missing = ~np.isfinite(sm)
    if np.any((sm[~missing] < 0) | (sm[~missing] > MAX_SOIL_MOISTURE)):
        raise ProductError(f"soil_moisture outside [0, {MAX_SOIL_MOISTURE}] m3/m3: correct it first")
    if np.any(sigma[np.isfinite(sigma)] < 0) or np.any((flags < 0) | (flags >= QA_NODATA)):
        raise ProductError("uncertainty must be >= 0 and qa within 0..254")
    flags = flags.astype(np.uint8) | np.where(missing, np.uint8(QA.NO_RETRIEVAL), np.uint8(0))
    sm = np.where(missing, np.float32(np.nan), sm)
    sigma = np.where(missing, np.float32(np.nan), sigma)
    return ProductArrays(sm, flags.astype(np.uint8), sigma)


def write_product(
    files: ProductFiles,
    soil_moisture: ArrayLike,
    qa: ArrayLike,
    uncertainty: ArrayLike,
    info: ProductInfo,
) -> ProductFiles:
    """Write a product day (three COGs, thumbnail, provenance) all-or-nothing.

    Args:
        files: target paths (``WorkLayout.product_files(day)``); the directory is created.
        soil_moisture: corrected 1 km soil moisture (m3/m3, NaN = no value), ``region.fine`` shape.
        qa: uint8 QA bits (OR of :class:`smprod.qa.QA`).
        uncertainty: 1-sigma uncertainty (m3/m3).
        info: day, region, model, inputs, software and parameters for metadata and provenance.

    Returns:
        ``files``, now all present.

    Raises:
        ProductError: on bad arrays or when any file cannot be written; nothing is replaced then.
    """
    from rasterio.errors import RasterioError

    if files.day != info.day:
        raise ProductError(f"files are for {files.day} but the product info is for {info.day}")
    arrays = prepare_arrays(info.region, soil_moisture, qa, uncertainty)
    targets = [*files.cogs().values(), files.thumbnail, files.provenance]
    try:
        with staged(targets) as temp:
            records = {}
            for key, target in files.cogs().items():
                write_cog(
                    temp[target], arrays.layer(key), info.region.fine.transform, BANDS[key], _tags(info)
                )
                check_cog(temp[target])
                records[key] = file_record(temp[target], href=target.name)
            temp[files.thumbnail].write_bytes(render_thumbnail(arrays.soil_moisture))
            records["thumbnail"] = file_record(temp[files.thumbnail], href=files.thumbnail.name)
            record = provenance_record(info, arrays.soil_moisture, arrays.qa, records)
            temp[files.provenance].write_bytes(provenance_bytes(record))
    except ProductError:
        raise
    except (OSError, ValueError, TypeError, RasterioError) as err:
        raise ProductError(f"product {files.day} not written to {files.provenance.parent}: {err}") from err
    return files


def correct_and_write(
    files: ProductFiles,
    model: ArrayLike,
    smap: ArrayLike,
    uncertainty: ArrayLike,
    qa: ArrayLike,
    info: ProductInfo,
    porosity: float | ArrayLike = DEFAULT_POROSITY,
    gap_correction_km: float = 0.0,
    conservation_km: int | None = None,
) -> Correction:
    """Mass-correct the model field against SMAP and write the day (the usual producer call).

    The correction's QA bits are ORed into ``qa`` (the producer's own bits, e.g. MODIS gap-filled)
    and its summary goes into ``parameters["correction"]`` of the provenance.

    Args:
        files: target paths of the day.
        model: 1 km model prediction (m3/m3, NaN = no value) on ``info.region.fine``.
        smap: coarse SMAP on ``info.region.coarse`` (NaN = no retrieval).
        uncertainty: 1-sigma uncertainty of the model (m3/m3).
        qa: the producer's QA bits (uint8), same shape as ``model``.
        info: product metadata.
        porosity: upper physical bound, scalar or 1 km array (see :mod:`smprod.correction`).
        gap_correction_km: sigma of the neighbour correction of cells without SMAP (0: none).
        conservation_km: the scale whose cell means equal SMAP's (a multiple of the coarse
            grid's; None: the coarse grid itself). See :func:`conserve_mass_in_blocks`.

    Returns:
        The correction (values, QA bits, residual per conservation cell, infeasible cells).
    """
    region = info.region
    block, offset = conservation_blocks(region.coarse, conservation_km)
    gap_cells = gap_correction_km / (region.coarse.km * block)
    result = conserve_mass_in_blocks(
        model, smap, region.factor, block, offset, porosity, region.tile_cells, gap_cells
    )
    flags = np.asarray(qa).astype(np.uint8) | result.qa
    summary = correction_summary(result, porosity)
    info = replace(info, parameters={**info.parameters, "correction": summary})
    write_product(files, result.values, flags, uncertainty, info)
    return result


def _tags(info: ProductInfo) -> dict[str, str]:
    """File-level GeoTIFF metadata: fixed software tag and identifiers, never a write time."""
    return {
        "TIFFTAG_SOFTWARE": f"smprod {smprod.__version__}",
        "product_id": PRODUCT_ID,
        "day": info.day.isoformat(),
        "model": f"{info.model.name} version {info.model.version}",
        "coarse_product": info.coarse_product,
    }


@contextmanager
def staged(targets: list[Path]) -> Iterator[dict[Path, Path]]:
    """Temporary files beside ``targets``, renamed over them only if the block completes.

    Each temporary is fsynced before any rename, and the directories after, so a crash leaves
    either the old files or the new ones (a crash between two renames can leave a mix of
    complete old and new files, never a partial file). On an exception every temporary is
    removed and the targets are untouched.
    """
    temps: dict[Path, Path] = {}
    try:
        for target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
            os.close(handle)
            temps[target] = Path(name)
        yield temps
        for temp in temps.values():
            _fsync(temp)
            os.chmod(temp, 0o644)  # mkstemp makes 0600; products are for everyone to read
        for target, temp in temps.items():
            os.replace(temp, target)
        for directory in {target.parent for target in targets}:
            _fsync(directory)
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def product_problems(files: ProductFiles, region: Region) -> list[str]:
    """Everything wrong with a written product day (empty list = complete and consistent).

    Checks that every file exists, each COG is a valid COG on ``region.fine`` (CRS, transform,
    shape), the thumbnail fits :data:`~smprod.thumbnail.MAX_SIDE`, and the provenance parses and
    its checksums match the files.
    """
    missing = [str(p) for p in (*files.cogs().values(), files.thumbnail, files.provenance) if not p.exists()]
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
    files: ProductFiles, window: tuple[slice, slice] | None = None, grid: RegionGrid | None = None
) -> ProductLayers:
    """Read a day's COGs, or only a window of them (the tiles it touches), and its provenance.

    Args:
        files: the day's paths (``WorkLayout.product_files(day)``).
        window: ``(rows, cols)`` slices of the product's grid to read, e.g. ``(slice(r, r + 1),
            slice(c, c + 1))`` for one pixel; None reads every pixel.
        grid: the 1 km grid the files must be on (the configured region's ``fine``); None: not
            checked.

    Raises:
        ProductError: if a file is missing or unreadable, is not on ``grid``, or the window
            does not lie inside the file.
    """
    import rasterio
    from rasterio.errors import RasterioError

    layers, units, nodata = {}, {}, {}
    try:
        record = json.loads(files.provenance.read_text())
        for key, path in files.cogs().items():
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
