"""The day's product files: write them atomically and deterministically, check them, read them back.

A product day is the set of files in :class:`smprod.layout.ProductFiles` ("Products" contract in
``docs/architecture.md``): COGs ``soil_moisture`` (float32 m3/m3, nodata NaN), ``qa`` (uint8 bit
flags of :class:`smprod.qa.QA`, nodata 255, which no flag combination reaches), ``uncertainty``
(float32 m3/m3, 1 sigma, nodata NaN) on the region's EASE-Grid 2.0 1 km grid, the thumbnail PNG
and the provenance JSON.

Decisions that live here:

* **All or nothing, in one step.** The five files are written into a hidden staging directory
  beside the day's (COGs checked), fsynced, and the whole directory is switched in at once
  (:mod:`smprod.product.dayswitch`: ``RENAME_EXCHANGE``, or a journal where the filesystem lacks
  it): readers see the old day whole or the new day whole, a kill at any point leaves one of
  them, and the next write of the day removes what a killed one left. A failure at any point
  removes the staging directory and leaves the previous product (or none) in place.
* **One missing-value rule.** A pixel without soil moisture has NaN uncertainty and carries
  ``QA.NO_RETRIEVAL``, whatever the caller passed.
* **Determinism.** Same arrays and :class:`~smprod.product.provenance.ProductInfo` -> byte-identical files
  (see :mod:`smprod.product.cog`, :mod:`smprod.product.thumbnail`, :mod:`smprod.product.provenance`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

import smprod
from smprod.config import DEFAULT_CONSERVATION_KM, DEFAULT_GAP_CORRECTION_KM
from smprod.errors import ProductError
from smprod.grids.ease import Region
from smprod.layout import PRODUCT_ID, ProductFiles
from smprod.product.bands import BANDS, MAX_SOIL_MOISTURE, QA_NODATA
from smprod.product.cog import check_cog, write_cog
from smprod.product.dayswitch import new_day
from smprod.product.provenance import ProductInfo, file_record, provenance_bytes, provenance_record
from smprod.product.thumbnail import render_thumbnail
from smprod.qa import QA
from smprod.science.correction import (
    DEFAULT_POROSITY,
    Correction,
    correct_region,
    correction_summary,
)


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
        files: target paths (``WorkLayout.product_files(day)``); their directory is replaced as a
            whole (it holds the day's files only).
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
    try:
        with new_day(files.directory) as staging:
            _write_files(ProductFiles.in_dir(staging, files.day), arrays, info)
    except ProductError:
        raise
    except (OSError, ValueError, TypeError, RasterioError) as err:
        raise ProductError(f"product {files.day} not written to {files.provenance.parent}: {err}") from err
    return files


def _write_files(files: ProductFiles, arrays: ProductArrays, info: ProductInfo) -> None:
    """Write the day's files (in the staging directory, under their published names): each COG
    (checked), the thumbnail, then the provenance with the checksums of the others."""

    def cog(key: str, path: Path) -> None:
        write_cog(path, arrays.layer(key), info.region.fine.transform, BANDS[key], _tags(info))
        check_cog(path)

    def thumbnail() -> None:
        files.thumbnail.write_bytes(render_thumbnail(arrays.soil_moisture))

    # The files are independent and GDAL's compression and Pillow's encoding release the GIL:
    # written at once on threads (each COG's bytes are its own, whatever the order).
    with ThreadPoolExecutor(len(files.cogs()) + 1) as pool:
        pending = [pool.submit(cog, key, path) for key, path in files.cogs().items()]
        pending.append(pool.submit(thumbnail))
        for future in pending:
            future.result()
    records = {key: file_record(path, href=path.name) for key, path in files.cogs().items()}
    records["thumbnail"] = file_record(files.thumbnail, href=files.thumbnail.name)
    record = provenance_record(info, arrays.soil_moisture, arrays.qa, records)
    files.provenance.write_bytes(provenance_bytes(record))


def correct_and_write(
    files: ProductFiles,
    model: ArrayLike,
    smap: ArrayLike,
    uncertainty: ArrayLike,
    qa: ArrayLike,
    info: ProductInfo,
    porosity: float | ArrayLike = DEFAULT_POROSITY,
    gap_correction_km: float = DEFAULT_GAP_CORRECTION_KM,
    conservation_km: int | None = DEFAULT_CONSERVATION_KM,
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
        porosity: upper physical bound, scalar or 1 km array (see :mod:`smprod.science.correction`).
        gap_correction_km: sigma of the neighbour correction of cells without SMAP (0: none;
            default: the setting's, :data:`smprod.config.DEFAULT_GAP_CORRECTION_KM`).
        conservation_km: the scale whose cell means equal SMAP's (a multiple of the coarse
            grid's; default: the setting's, :data:`smprod.config.DEFAULT_CONSERVATION_KM`; None:
            the coarse grid itself). See
            :func:`smprod.science.correction.correct_region`.

    Returns:
        The correction (values, QA bits, residual per conservation cell, infeasible cells).
    """
    result = correct_region(model, smap, info.region, porosity, gap_correction_km, conservation_km)
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

    For a file on its own (a CSV, a plot, an extract): each temporary is fsynced before any
    rename, and the directories after, so a crash leaves the old file or the new one, never a
    partial file. Several targets are renamed one by one (a crash between two renames leaves a
    mix of complete old and new files): files that must switch together go into one directory
    switched by :func:`smprod.product.dayswitch.new_day`, as a product day does. On an exception
    every temporary is removed and the targets are untouched.
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
