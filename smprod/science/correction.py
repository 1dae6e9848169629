"""Mass conservation of the 1 km field against SMAP, with physical bounds.

The constraint (Mao et al. 2022, Remote Sensing 14, 3858, "mass-conservation correction"): inside
every coarse cell where SMAP is valid, the mean of the 1 km values equals the SMAP value. EPSG:6933
is equal-area, so the mean is a plain mean over the ``factor x factor`` nested block (see
``../shared/design.md``, "Grids").

Decisions that live here:

* **Which fine pixels count.** Only pixels with a model value (finite). Missing (NaN) pixels stay
  NaN, are flagged ``QA.NO_RETRIEVAL`` and are left out of the mean: the constraint is "the mean of
  the values we publish equals SMAP". A coarse cell with SMAP but no valid pixel has nothing to
  correct; its residual is NaN.
* **Physical range.** Every published value lies in ``[0, porosity]``. ``porosity`` is a scalar or
  a per-pixel array (e.g. :func:`porosity_from_texture`); the default bound is
  :data:`DEFAULT_POROSITY` = 0.5 m3/m3, the ``valid_max`` of SPL3SMP ``soil_moisture`` (SMAP L3
  product specification; ``../shared/realdata/SPL3SMP/SC_SPL3SMP_008.dmr``), so every valid SMAP
  value is feasible under the default.
* **The scheme** (vectorised over all cells at once, no loop over cells):

  1. additive shift per cell, ``x = m + (s - mean(m))``: keeps the model's sub-grid anomalies in
     m3/m3, which is what the sub-grid and added-value scores measure;
  2. clip to ``[0, porosity]``; the pixels that had to move are flagged ``QA.VALUE_CLIPPED``;
  3. redistribute the mass the clip removed (or added) over the pixels that still have room, in
     proportion to their room: when mass is missing, every pixel moves towards its porosity by the
     same fraction of its headroom ``porosity - x``; when there is too much, every pixel moves
     towards 0 by the same fraction of its content ``x``. This multiplicative step cannot leave the
     bounds, so it needs no further clipping and closes the constraint exactly in one pass; it is
     repeated (at most :data:`MAX_ITERATIONS` times) only to remove floating-point leftovers.

* **Feasibility.** A cell is feasible when ``0 <= s <= mean(porosity)`` over its valid pixels.
  Otherwise (SMAP above the porosity bound or negative) no field in the bounds can match: every
  valid pixel is set to the nearest bound and flagged ``QA.VALUE_CLIPPED``, the cell is reported
  in ``infeasible`` and its residual is non-zero.
* **Cells without SMAP** get ``QA.COARSE_MISSING`` and no constraint. With ``gap_scale_cells``
  0 they keep the model value (clipped to the bounds if needed). Otherwise (the production
  default, ``gap_correction_km``) they are shifted by the correction their neighbours with SMAP
  received: the Gaussian-weighted mean (sigma ``gap_scale_cells`` coarse cells, up to 3 sigma
  away) of ``SMAP - mean(model)`` over the cells with SMAP, or the day's median correction where
  no such cell is near (:func:`gap_shifts`). This is residual interpolation, as in area-to-point
  residual kriging: the model's coarse-scale error varies smoothly, so the neighbours' error is
  the best estimate of it where SMAP is missing, and the product has no step at the edge of a
  swath gap. Measured on two synthetic worlds (``docs/models.md``): the mean error of gap cells
  drops from +0.011 to +0.001 m3/m3 and the 1 km ubRMSE of the whole product by 0.7-1.4 points.
* **Tiles.** Coarse cells with SMAP are corrected independently, so a region may be corrected
  tile by tile (tiles aligned to coarse cells, e.g. during tiled prediction) with the same result
  as at once; the gap shifts, which look across tile edges, are computed once for the whole
  region from its coarse cell means (:func:`conserve_mass_in_tiles`).
* **The conservation scale** (``conservation_km``, :func:`conserve_mass_in_blocks`). SPL3SMP is
  one radiometer footprint per 36 km cell, so its cell is where it is a true mean. SPL3SMP_E is
  interpolated to 9 km from footprints of about 33 km (NSIDC SPL3SMP_E user guide): its value
  for a 9 km cell is not that cell's mean, and forcing every 9 km cell of the product to it
  erases the structure the model resolves between 9 and 33 km. The 9 km product is therefore
  conserved over blocks of 4 x 4 cells of 9 km, the cells of the global 36 km grid (the grids
  nest), against the mean of the block's SMAP_E values (50 % rule). Measured on the suite
  (docs/models.md): product ubRMSE / bilinear 0.963 -> 0.931 and 0.963 -> 0.898 on the two
  tuning worlds at 9 km. :func:`conservation_blocks` turns the setting into the block size and
  the region's offset in its block.
* **Idempotence.** Cells whose residual is already within :data:`CONVERGED` and whose pixels are in
  bounds are left bit-for-bit untouched, so correcting a corrected field changes nothing (the
  neighbours of a gap then have no correction left to pass on, so its shift is 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from smprod.errors import CorrectionError
from smprod.grids.regrid import (
    as_blocks,
    block_mean,
    block_sum,
    gaussian_mean,
    upsample_nearest,
    valid_block_mean,
)
from smprod.qa import QA

if TYPE_CHECKING:
    from smprod.grids.ease import Region, RegionGrid

#: Upper physical bound (m3/m3) used when no porosity map is given: the ``valid_max`` of SPL3SMP
#: ``soil_moisture`` (SMAP L3 product specification; SC_SPL3SMP_008.dmr).
DEFAULT_POROSITY = 0.5
#: Residual (m3/m3) the design requires wherever the constraint is feasible (issue 4).
REQUIRED_RESIDUAL = 1e-4
#: A cell whose |SMAP - mean| is at most this (m3/m3) counts as already conserving mass and is not
#: touched; far below :data:`REQUIRED_RESIDUAL` so the product still meets it with margin.
CONVERGED = 1e-9
#: Redistribution passes; one closes the constraint analytically, the rest mop up rounding.
MAX_ITERATIONS = 4
#: Floating-point leftover (m3/m3) below which another redistribution pass is not worth its time.
LEFTOVER = 1e-12
#: Gap shifts reach this many sigmas; beyond, a gap cell takes the day's median correction.
GAP_REACH_SIGMAS = 3.0
#: Share of the full Gaussian weight below which a gap cell counts as having no neighbour with SMAP.
GAP_MIN_WEIGHT = 1e-3


@dataclass(frozen=True)
class Correction:
    """The result of :func:`conserve_mass`.

    Attributes:
        values: corrected 1 km field (float64, NaN where the model had no value).
        qa: the QA bits this step set (uint8, same shape): ``COARSE_MISSING``, ``VALUE_CLIPPED``,
            ``NO_RETRIEVAL``. OR them into the product's QA band.
        residual: per coarse cell, ``SMAP - mean(values)`` over valid pixels (NaN where SMAP or
            every pixel is missing).
        infeasible: per coarse cell, True where SMAP lies outside ``[0, mean(porosity)]``.
        gap_shift: per coarse cell, the shift given to a cell without SMAP (:func:`gap_shifts`;
            0 elsewhere and when gap correction is off).
    """

    values: NDArray[np.float64]
    qa: NDArray[np.uint8]
    residual: NDArray[np.float64]
    infeasible: NDArray[np.bool_]
    gap_shift: NDArray[np.float64]

    def max_feasible_residual(self) -> float:
        """Largest |residual| over feasible cells with SMAP (0.0 when there is none)."""
        feasible = np.isfinite(self.residual) & ~self.infeasible
        return float(np.abs(self.residual[feasible]).max(initial=0.0))


def correction_summary(result: Correction, porosity: float | ArrayLike) -> dict[str, object]:
    """What the provenance records about the correction (JSON-able, stable to 10 decimals)."""
    bound = np.asarray(porosity)
    return {
        "scheme": "additive shift, clip to [0, porosity], multiplicative redistribution over room",
        "porosity": float(bound) if bound.ndim == 0 else "per-pixel map",
        "cells_with_smap": int(np.isfinite(result.residual).sum()),
        "infeasible_cells": int(result.infeasible.sum()),
        "max_feasible_residual": round(result.max_feasible_residual(), 10),
        "required_residual": REQUIRED_RESIDUAL,
        "gap_cells_shifted": int(np.count_nonzero(result.gap_shift)),
        "max_abs_gap_shift": round(float(np.abs(result.gap_shift).max(initial=0.0)), 10),
    }


def porosity_from_texture(sand: ArrayLike, clay: ArrayLike) -> NDArray[np.float64]:
    """Porosity (saturated water content, m3/m3) from sand and clay percent.

    Cosby et al. 1984 (Water Resources Research 20(6), 682-690, Table 4, multiple regression):
    ``theta_s = (50.5 - 0.142 * sand - 0.037 * clay) / 100``. NaN where texture is missing; callers
    can fill with :data:`DEFAULT_POROSITY`.
    """
    sand = np.asarray(sand, dtype=np.float64)
    clay = np.asarray(clay, dtype=np.float64)
    return (50.5 - 0.142 * sand - 0.037 * clay) / 100.0


def conserve_mass(
    model: ArrayLike,
    smap: ArrayLike,
    factor: int,
    porosity: float | ArrayLike = DEFAULT_POROSITY,
    gap_scale_cells: float = 0.0,
) -> Correction:
    """Correct a 1 km field so every coarse cell keeps its SMAP mean, within ``[0, porosity]``.

    Args:
        model: 1 km model field (m3/m3), shape ``(nrows * factor, ncols * factor)``; NaN = no value.
        smap: coarse SMAP (m3/m3), shape ``(nrows, ncols)``; NaN = no retrieval for the cell.
        factor: fine cells per coarse cell along one axis (``Region.factor``: 36 or 9).
        porosity: upper bound, a scalar or a 1 km array; non-finite entries fall back to
            :data:`DEFAULT_POROSITY`.
        gap_scale_cells: sigma (coarse cells) of the neighbour correction of cells without SMAP
            (:func:`gap_shifts`); 0 keeps their model values.

    Returns:
        The corrected field, the QA bits set, the per-cell residual, the infeasible cells and the
        gap shifts.

    Raises:
        CorrectionError: if the shapes do not nest or the porosity is not positive.
    """
    fine, coarse, bound = _checked_inputs(model, smap, factor, porosity)
    return _conserve(fine, coarse, bound, factor, _gap_shifts(fine, coarse, bound, factor, gap_scale_cells))


def gap_shifts(
    model: ArrayLike,
    smap: ArrayLike,
    factor: int,
    scale_cells: float,
    porosity: float | ArrayLike = DEFAULT_POROSITY,
) -> NDArray[np.float64]:
    """Per coarse cell, the shift of a cell without SMAP: its neighbours' correction.

    The correction of a cell with SMAP is ``SMAP - mean(model)``; cells that already conserve
    mass (within :data:`CONVERGED`) pass on 0, and infeasible cells (SMAP outside the bounds) pass
    on nothing, so correcting a corrected field shifts nothing. A cell without SMAP (but with
    model values) gets the Gaussian-weighted mean (sigma ``scale_cells``, truncated at
    :data:`GAP_REACH_SIGMAS`) of its neighbours' corrections (normalised convolution, so missing
    neighbours do not pull it towards 0), or the median correction of the day where no neighbour
    with SMAP is within reach. 0 for cells with SMAP, for cells without model values, when
    ``scale_cells`` is 0 and when no cell passes a correction on.
    """
    fine, coarse, bound = _checked_inputs(model, smap, factor, porosity)
    return _gap_shifts(fine, coarse, bound, factor, scale_cells)


def _gap_shifts(
    fine: NDArray[np.float64],
    coarse: NDArray[np.float64],
    bound: NDArray[np.float64],
    factor: int,
    scale_cells: float,
) -> NDArray[np.float64]:
    """:func:`gap_shifts` on checked inputs (the callers here have checked them already)."""
    blocks = as_blocks(fine, factor)
    valid = np.isfinite(blocks)
    count = valid.sum(axis=(1, 3))
    gaps = ~np.isfinite(coarse) & (count > 0)
    if scale_cells <= 0 or not gaps.any():
        return np.zeros(coarse.shape)
    correction = coarse - valid_block_mean(blocks, valid, count)  # NaN without SMAP or model values
    correction[np.abs(correction) <= CONVERGED] = 0.0
    known = np.isfinite(correction) & ~_infeasible(coarse, as_blocks(bound, factor), valid, count)
    if not known.any():
        return np.zeros(coarse.shape)
    mean, weight = gaussian_mean(correction, known, scale_cells, mode="constant", truncate=GAP_REACH_SIGMAS)
    estimate = np.where(weight > GAP_MIN_WEIGHT, mean, np.median(correction[known]))
    return np.where(gaps, estimate, 0.0)


def _infeasible(coarse: NDArray, upper: NDArray, valid: NDArray, count: NDArray) -> NDArray[np.bool_]:
    """Cells whose SMAP no field within ``[0, porosity]`` can match (tolerance :data:`CONVERGED`).

    The tolerance keeps SMAP exactly at a bound feasible despite rounding in the mean.
    """
    mean_upper = valid_block_mean(upper, valid, count)
    return np.isfinite(coarse) & (count > 0) & ((coarse < -CONVERGED) | (coarse > mean_upper + CONVERGED))


def _conserve(
    fine: NDArray[np.float64],
    coarse: NDArray[np.float64],
    bound: NDArray[np.float64],
    factor: int,
    shift: NDArray[np.float64],
) -> Correction:
    """:func:`conserve_mass` on checked inputs, with the gap shifts already computed."""
    blocks = as_blocks(fine, factor)
    upper = as_blocks(bound, factor)
    valid = np.isfinite(blocks)
    count = valid.sum(axis=(1, 3))
    has_smap = np.isfinite(coarse) & (count > 0)
    target = np.where(has_smap, coarse, 0.0)[:, None, :, None]
    out = blocks.copy()
    in_bounds = ((blocks >= 0.0) & (blocks <= upper)) | ~valid
    converged = has_smap & (np.abs(coarse - valid_block_mean(blocks, valid, count)) <= CONVERGED)
    converged &= in_bounds.all(axis=(1, 3))
    todo = (has_smap & ~converged)[:, None, :, None] & valid
    shifted = blocks + (target - valid_block_mean(blocks, valid, count)[:, None, :, None])
    out = np.where(todo, shifted, out + shift[:, None, :, None])
    # Overshoots at rounding level (a shift to exactly 0) are clipped but not flagged, so the
    # flag does not depend on summation order (whole region vs tiles).
    clipped = valid & ((out < -CONVERGED) | (out > upper + CONVERGED))
    out = np.where(valid, np.clip(out, 0.0, upper), np.nan)
    infeasible = _infeasible(coarse, upper, valid, count)
    for _ in range(MAX_ITERATIONS):
        out = _redistribute(out, upper, valid, count, target, todo)
        residual = np.where(has_smap, coarse - valid_block_mean(out, valid, count), np.nan)
        if not np.any(np.abs(residual[has_smap & ~converged & ~infeasible]) > LEFTOVER):
            break
    clipped |= infeasible[:, None, :, None] & valid  # the whole cell is held at a bound
    qa = _qa_bits(valid, clipped, np.isfinite(coarse))
    shape = fine.shape
    return Correction(out.reshape(shape), qa.reshape(shape), residual, infeasible, shift)


def conserve_mass_in_tiles(
    model: ArrayLike,
    smap: ArrayLike,
    factor: int,
    porosity: float | ArrayLike = DEFAULT_POROSITY,
    tile_cells: int = 4,
    gap_scale_cells: float = 0.0,
) -> Correction:
    """:func:`conserve_mass` applied tile by tile (``tile_cells`` x ``tile_cells`` coarse cells).

    Same result as one call on the whole field (cells are independent; only the summation order
    of a cell's mean can differ, at the 1e-16 level), but the temporaries are those of one tile,
    so the correction's memory does not grow with the region. The gap shifts look across tiles,
    so they are computed first, once, from the whole region's coarse cell means.
    """
    fine, coarse, bound = _checked_inputs(model, smap, factor, porosity)
    shift = _gap_shifts(fine, coarse, bound, factor, gap_scale_cells)
    values = np.empty(fine.shape, np.float64)
    qa = np.empty(fine.shape, np.uint8)
    residual = np.empty(coarse.shape, np.float64)
    infeasible = np.empty(coarse.shape, bool)
    step = max(1, tile_cells)
    for r in range(0, coarse.shape[0], step):
        for c in range(0, coarse.shape[1], step):
            cells = (slice(r, r + step), slice(c, c + step))
            pixels = (slice(r * factor, (r + step) * factor), slice(c * factor, (c + step) * factor))
            part = _conserve(fine[pixels], coarse[cells], bound[pixels], factor, shift[cells])
            values[pixels], qa[pixels] = part.values, part.qa
            residual[cells], infeasible[cells] = part.residual, part.infeasible
    return Correction(values, qa, residual, infeasible, shift)


def conservation_blocks(coarse: RegionGrid, conservation_km: int | None) -> tuple[int, tuple[int, int]]:
    """(coarse cells per block side, the region's (row, col) offset in its block) for conserving
    at ``conservation_km`` (None: the coarse grid itself), for :func:`conserve_mass_in_blocks`."""
    block = max(1, (conservation_km or coarse.km) // coarse.km)
    return block, (coarse.row0 % block, coarse.col0 % block)


def conserve_mass_in_blocks(
    model: ArrayLike,
    smap: ArrayLike,
    factor: int,
    block: int,
    offset: tuple[int, int] = (0, 0),
    porosity: float | ArrayLike = DEFAULT_POROSITY,
    tile_cells: int = 4,
    gap_scale_cells: float = 0.0,
) -> Correction:
    """:func:`conserve_mass_in_tiles` over blocks of ``block x block`` coarse cells.

    The block means of ``smap`` (mean of the valid cells, NaN when more than half are missing)
    are the targets; blocks are aligned to the global grid whose cells they are: ``offset`` is
    the region's first coarse (row, col) modulo ``block`` (for 9 km cells in 36 km blocks,
    ``region.coarse.row0 % 4``), and partial blocks at the region's edges hold only the
    region's cells. ``block`` 1 is :func:`conserve_mass_in_tiles` itself.

    Returns:
        The correction with ``residual``, ``infeasible`` and ``gap_shift`` per block, and QA
        ``COARSE_MISSING`` set per coarse cell without SMAP (the cell's own retrieval is
        missing, whether or not its block has a constraint).
    """
    if block == 1:
        return conserve_mass_in_tiles(model, smap, factor, porosity, tile_cells, gap_scale_cells)
    fine, coarse, bound = _checked_inputs(model, smap, factor, porosity)
    wide_model, wide_smap, wide_bound, pixels = _padded_to_blocks(fine, coarse, bound, factor, block, offset)
    targets = block_mean(wide_smap, block, max_invalid_fraction=0.5)
    result = conserve_mass_in_tiles(
        wide_model, targets, factor * block, wide_bound, max(1, tile_cells // block), gap_scale_cells
    )
    qa = result.qa[pixels] & np.uint8(~QA.COARSE_MISSING & 0xFF)
    own_missing = upsample_nearest(~np.isfinite(coarse), factor)
    qa |= np.where(own_missing, np.uint8(QA.COARSE_MISSING), np.uint8(0)).astype(np.uint8)
    return Correction(result.values[pixels], qa, result.residual, result.infeasible, result.gap_shift)


def correct_region(
    model: ArrayLike,
    smap: ArrayLike,
    region: Region,
    porosity: float | ArrayLike,
    gap_correction_km: float,
    conservation_km: int | None,
) -> Correction:
    """The correction as production applies it on ``region``, from the settings of the same
    names: conserved over the cells of ``conservation_km`` (None: the coarse grid's;
    :func:`conservation_blocks`), tile by tile (``region.tile_cells``), cells without SMAP shifted
    by their neighbours' correction with sigma ``gap_correction_km`` (0: not shifted)."""
    block, offset = conservation_blocks(region.coarse, conservation_km)
    gap_cells = gap_correction_km / (region.coarse.km * block)
    return conserve_mass_in_blocks(
        model, smap, region.factor, block, offset, porosity, region.tile_cells, gap_cells
    )


def _padded_to_blocks(
    fine: NDArray[np.float64],
    coarse: NDArray[np.float64],
    bound: NDArray[np.float64],
    factor: int,
    block: int,
    offset: tuple[int, int],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], tuple[slice, slice]]:
    """The fields padded to whole blocks of the global grid (model and SMAP NaN, porosity
    :data:`DEFAULT_POROSITY` outside the region), and the region's pixels in the padded field."""
    (top, left), (rows, cols) = offset, coarse.shape
    padded_rows, padded_cols = -(-(top + rows) // block) * block, -(-(left + cols) // block) * block
    cells = (slice(top, top + rows), slice(left, left + cols))
    pixels = (slice(top * factor, (top + rows) * factor), slice(left * factor, (left + cols) * factor))
    wide_smap = np.full((padded_rows, padded_cols), np.nan)
    wide_smap[cells] = coarse
    wide_model = np.full((padded_rows * factor, padded_cols * factor), np.nan)
    wide_model[pixels] = fine
    wide_bound = np.full(wide_model.shape, DEFAULT_POROSITY)
    wide_bound[pixels] = bound
    return wide_model, wide_smap, wide_bound, pixels


def _checked_inputs(
    model: ArrayLike, smap: ArrayLike, factor: int, porosity: float | ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    fine = np.asarray(model, dtype=np.float64)
    coarse = np.asarray(smap, dtype=np.float64)
    if fine.ndim != 2 or coarse.ndim != 2 or factor < 1:
        raise CorrectionError(f"need 2-D fields and factor >= 1, got {fine.shape}, {coarse.shape}, {factor}")
    if fine.shape != (coarse.shape[0] * factor, coarse.shape[1] * factor):
        raise CorrectionError(
            f"1 km shape {fine.shape} does not nest in coarse shape {coarse.shape} with factor {factor}"
        )
    bound = np.broadcast_to(np.asarray(porosity, dtype=np.float64), fine.shape)
    bound = np.where(np.isfinite(bound), bound, DEFAULT_POROSITY)
    if np.any(bound <= 0.0):
        raise CorrectionError(f"porosity must be > 0 m3/m3, got minimum {float(bound.min())}")
    return fine, coarse, bound


def _redistribute(
    out: NDArray, upper: NDArray, valid: NDArray, count: NDArray, target: NDArray, todo: NDArray
) -> NDArray[np.float64]:
    """One pass: move every pixel of an unbalanced cell by the same fraction of its room."""
    deficit = (target[:, 0, :, 0] * count - block_sum(out, valid))[:, None, :, None]
    headroom = block_sum(upper - out, valid)[:, None, :, None]
    content = block_sum(out, valid)[:, None, :, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        up = np.clip(np.where(headroom > 0, deficit / headroom, 0.0), 0.0, 1.0)
        down = np.clip(np.where(content > 0, -deficit / content, 0.0), 0.0, 1.0)
    raised = out + up * (upper - out)
    lowered = out - down * out
    moved = np.where(deficit > 0, raised, lowered)
    return np.where(todo, np.clip(moved, 0.0, upper), out)


def _qa_bits(valid: NDArray, clipped: NDArray, smap_valid: NDArray) -> NDArray[np.uint8]:
    qa = np.zeros(valid.shape, dtype=np.uint8)
    qa[~valid] |= np.uint8(QA.NO_RETRIEVAL)
    qa[clipped] |= np.uint8(QA.VALUE_CLIPPED)
    qa |= np.where(smap_valid, 0, np.uint8(QA.COARSE_MISSING)).astype(np.uint8)[:, None, :, None]
    return qa
