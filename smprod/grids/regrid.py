"""Moving fields between the nested EASE-Grid 2.0 grids of a region (coarse <-> 1 km).

These are exact block operations because the grids nest: a coarse cell holds ``factor x factor``
fine cells (36 x 36 for 36 km, 9 x 9 for 9 km). Reprojection from native granule grids
(sinusoidal MODIS tiles, the IMERG lat/lon grid, static GeoTIFFs) lives in
:mod:`smprod.grids.reproject`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

# scipy.ndimage is imported inside the functions that need it: it costs about 0.3 s, and a point
# query (``smprod series``) reads this module without needing it (:func:`bilinear_at`).

#: A coarse value is invalid when more than this fraction of its fine cells is invalid
#: (Mao et al. 2022: "invalid if more than 50% of its fine cells are invalid").
MAX_INVALID_FRACTION = 0.5


def as_blocks(fine: NDArray, factor: int) -> NDArray:
    """View ``(..., R*f, C*f)`` as ``(..., R, f, C, f)``: axes -3 and -1 run inside one coarse cell.

    Raises:
        ValueError: if the last two axes are not a whole number of ``factor`` blocks.
    """
    rows, cols = fine.shape[-2:]
    if rows % factor or cols % factor:
        raise ValueError(f"fine shape {fine.shape} is not a whole number of {factor}x{factor} blocks")
    return fine.reshape(*fine.shape[:-2], rows // factor, factor, cols // factor, factor)


def block_sum(blocks: NDArray, valid: NDArray) -> NDArray[np.float64]:
    """Sum of the ``valid`` cells of every block of :func:`as_blocks` (0 where none is)."""
    return np.where(valid, blocks, 0.0).sum(axis=(-3, -1))


def valid_block_mean(blocks: NDArray, valid: NDArray, count: NDArray) -> NDArray[np.float64]:
    """Mean of the ``valid`` cells of every block (``count`` of them; NaN where there are none)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return block_sum(blocks, valid) / count


def block_mean(
    fine: NDArray, factor: int, max_invalid_fraction: float = MAX_INVALID_FRACTION
) -> NDArray[np.float64]:
    """Mean of the valid (finite) fine cells of every coarse cell, NaN under the 50% rule.

    Args:
        fine: array whose last two axes are a whole number of ``factor`` blocks.
        factor: fine cells per coarse cell along one axis.
        max_invalid_fraction: a coarse cell with a larger invalid fraction is NaN.
    """
    blocks = as_blocks(np.asarray(fine, dtype=np.float64), factor)
    valid = np.isfinite(blocks)
    count = valid.sum(axis=(-3, -1))
    mean = valid_block_mean(blocks, valid, count)
    enough = count >= (1.0 - max_invalid_fraction) * factor * factor
    return np.where(enough & (count > 0), mean, np.nan)


def block_mode(fine: NDArray, factor: int, nodata: int = -1) -> NDArray[np.int64]:
    """Most frequent class of every coarse cell (ties: lowest class); ``nodata`` cells ignored.

    A coarse cell whose fine cells are more than half ``nodata`` gets ``nodata``.
    """
    blocks = as_blocks(np.asarray(fine), factor)
    nrows, ncols = blocks.shape[-4], blocks.shape[-2]
    flat = blocks.transpose(*range(blocks.ndim - 4), -4, -2, -3, -1).reshape(nrows, ncols, factor * factor)
    out = np.full((nrows, ncols), nodata, dtype=np.int64)
    for r in range(nrows):
        for c in range(ncols):
            values = flat[r, c][flat[r, c] != nodata]
            if values.size > MAX_INVALID_FRACTION * factor * factor:
                classes, counts = np.unique(values, return_counts=True)
                out[r, c] = classes[np.argmax(counts)]
    return out


def upsample_nearest(coarse: NDArray, factor: int) -> NDArray:
    """Each coarse value repeated over its fine cells (the nearest-neighbour baseline)."""
    return np.repeat(np.repeat(np.asarray(coarse), factor, axis=-2), factor, axis=-1)


def deviation_from_cell_mean(fine: NDArray, factor: int) -> NDArray[np.float64]:
    """Each fine cell minus the mean of its coarse cell's valid fine cells (NaN stays NaN; a
    coarse cell without a valid fine cell is NaN): the sub-grid anomaly of a field."""
    values = np.asarray(fine, np.float64)
    return values - upsample_nearest(block_mean(values, factor, max_invalid_fraction=0.999), factor)


def bilinear_to_fine(coarse: NDArray, factor: int) -> NDArray[np.float64]:
    """Bilinear interpolation of coarse cell-centre values to the nested fine cell centres.

    NaN coarse cells are left out by normalised interpolation (weights renormalised over the
    valid neighbours), so one missing cell does not blank a whole neighbourhood; fine cells with
    no valid neighbour are NaN. Beyond the outermost coarse centres values are held constant
    (edge extrapolation would invent gradients).
    """
    coarse = np.asarray(coarse, dtype=np.float64)
    nrows, ncols = coarse.shape
    ri = _coarse_position(np.arange(nrows * factor), factor, nrows)
    ci = _coarse_position(np.arange(ncols * factor), factor, ncols)
    rr, cc = np.meshgrid(ri, ci, indexing="ij")
    from scipy import ndimage

    valid = np.isfinite(coarse)
    values = np.where(valid, coarse, 0.0)
    num = ndimage.map_coordinates(values, [rr, cc], order=1, mode="nearest")
    den = ndimage.map_coordinates(valid.astype(np.float64), [rr, cc], order=1, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    return np.where(den > 1e-9, out, np.nan)


def bilinear_at(coarse: NDArray, factor: int, row: int, col: int) -> float:
    """:func:`bilinear_to_fine` of ``coarse`` at one fine cell (``row``, ``col``), in numpy alone.

    The same normalised interpolation (NaN neighbours left out, values held beyond the outermost
    centres), equal to the whole-field value to rounding; a point query needs this one number and
    not scipy's interpolation machinery.
    """
    coarse = np.asarray(coarse, dtype=np.float64)
    nrows, ncols = coarse.shape
    r = float(_coarse_position(row, factor, nrows))
    c = float(_coarse_position(col, factor, ncols))
    r0, c0 = int(r), int(c)
    r1, c1 = min(r0 + 1, nrows - 1), min(c0 + 1, ncols - 1)
    wr, wc = r - r0, c - c0
    corners = (
        (r0, c0, (1 - wr) * (1 - wc)),
        (r0, c1, (1 - wr) * wc),
        (r1, c0, wr * (1 - wc)),
        (r1, c1, wr * wc),
    )
    num = den = 0.0
    for i, j, weight in corners:
        if np.isfinite(coarse[i, j]):
            num += weight * coarse[i, j]
            den += weight
    return num / den if den > 1e-9 else math.nan


def _coarse_position(fine_index: NDArray | int, factor: int, size: int) -> NDArray[np.float64]:
    """Where fine cell centres sit in coarse index units, held within the outermost coarse centres.

    Fine centre ``i`` sits at coarse index ``(i + 0.5) / factor - 0.5``.
    """
    return np.clip((np.asarray(fine_index) + 0.5) / factor - 0.5, 0, size - 1)


#: A Gaussian's full width at half maximum in sigmas, 2 sqrt(2 ln 2) (footprints are quoted as FWHM).
FWHM_PER_SIGMA = 2.3548


def gaussian_mean(
    values: NDArray, valid: NDArray, sigma: float, **filter_options: object
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gaussian-weighted mean of the ``valid`` cells of ``values`` around every cell (normalised
    convolution, so invalid cells do not pull it towards 0), and the weight the valid cells carry.

    ``filter_options`` go to :func:`scipy.ndimage.gaussian_filter` (``mode``, ``truncate``).
    The mean is NaN where the weight is 0; callers decide how much weight is enough.
    """
    from scipy import ndimage

    weight = ndimage.gaussian_filter(np.asarray(valid, np.float64), sigma, **filter_options)
    total = ndimage.gaussian_filter(np.where(valid, values, 0.0), sigma, **filter_options)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / weight, weight


def nearest_valid(coarse: NDArray) -> NDArray[np.float64]:
    """``coarse`` with every NaN cell set to the value of the nearest valid cell (all NaN: as is)."""
    coarse = np.asarray(coarse, dtype=np.float64)
    missing = ~np.isfinite(coarse)
    if not missing.any() or missing.all():
        return coarse
    from scipy import ndimage

    rows, cols = ndimage.distance_transform_edt(missing, return_distances=False, return_indices=True)
    return coarse[rows, cols]


def bilinear_window(
    coarse: NDArray, factor: int, row0: int, col0: int, nrows: int, ncols: int
) -> NDArray[np.float64]:
    """A window of :func:`bilinear_to_fine` of ``coarse``, computed from the coarse cells it needs.

    The window (fine rows ``row0:row0+nrows``, cols ``col0:col0+ncols``) must be aligned to whole
    coarse cells. Only those cells plus a one-cell halo are interpolated, so a tile costs the
    tile, not the region; the values equal the whole-field interpolation.
    """
    coarse = np.asarray(coarse, dtype=np.float64)
    if row0 % factor or col0 % factor or nrows % factor or ncols % factor:
        raise ValueError(f"window ({row0},{col0},{nrows},{ncols}) is not aligned to {factor}-cell blocks")
    r0, c0 = row0 // factor, col0 // factor
    lo_r, lo_c = max(0, r0 - 1), max(0, c0 - 1)
    hi_r = min(coarse.shape[0], r0 + nrows // factor + 1)
    hi_c = min(coarse.shape[1], c0 + ncols // factor + 1)
    fine = bilinear_to_fine(coarse[lo_r:hi_r, lo_c:hi_c], factor)
    top, left = (r0 - lo_r) * factor, (c0 - lo_c) * factor
    return fine[top : top + nrows, left : left + ncols]
