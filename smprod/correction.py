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
* **Cells without SMAP** keep the model value (clipped to the bounds if needed) and get
  ``QA.COARSE_MISSING``.
* **Tiles.** Coarse cells are corrected independently, so a region may be corrected tile by tile
  (tiles aligned to coarse cells, e.g. during tiled prediction) with the same result as at once.
* **Idempotence.** Cells whose residual is already within :data:`CONVERGED` and whose pixels are in
  bounds are left bit-for-bit untouched, so correcting a corrected field changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from smprod.errors import CorrectionError
from smprod.qa import QA

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
    """

    values: NDArray[np.float64]
    qa: NDArray[np.uint8]
    residual: NDArray[np.float64]
    infeasible: NDArray[np.bool_]

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
) -> Correction:
    """Correct a 1 km field so every coarse cell keeps its SMAP mean, within ``[0, porosity]``.

    Args:
        model: 1 km model field (m3/m3), shape ``(nrows * factor, ncols * factor)``; NaN = no value.
        smap: coarse SMAP (m3/m3), shape ``(nrows, ncols)``; NaN = no retrieval for the cell.
        factor: fine cells per coarse cell along one axis (``Region.factor``: 36 or 9).
        porosity: upper bound, a scalar or a 1 km array; non-finite entries fall back to
            :data:`DEFAULT_POROSITY`.

    Returns:
        The corrected field, the QA bits set, the per-cell residual and the infeasible cells.

    Raises:
        CorrectionError: if the shapes do not nest or the porosity is not positive.
    """
    fine, coarse, bound = _checked_inputs(model, smap, factor, porosity)
    blocks = _blocks(fine, factor)
    upper = _blocks(bound, factor)
    valid = np.isfinite(blocks)
    count = valid.sum(axis=(1, 3))
    has_smap = np.isfinite(coarse) & (count > 0)
    target = np.where(has_smap, coarse, 0.0)[:, None, :, None]
    out = blocks.copy()
    in_bounds = ((blocks >= 0.0) & (blocks <= upper)) | ~valid
    converged = has_smap & (np.abs(coarse - _block_mean(blocks, valid, count)) <= CONVERGED)
    converged &= in_bounds.all(axis=(1, 3))
    todo = (has_smap & ~converged)[:, None, :, None] & valid
    shifted = blocks + (target - _block_mean(blocks, valid, count)[:, None, :, None])
    out = np.where(todo, shifted, out)
    # Overshoots at rounding level (a shift to exactly 0) are clipped but not flagged, so the
    # flag does not depend on summation order (whole region vs tiles).
    clipped = valid & ((out < -CONVERGED) | (out > upper + CONVERGED))
    out = np.where(valid, np.clip(out, 0.0, upper), np.nan)
    # A tolerance of CONVERGED keeps SMAP exactly at a bound feasible despite rounding in the mean.
    mean_upper = _block_mean(upper, valid, count)
    infeasible = has_smap & ((coarse < -CONVERGED) | (coarse > mean_upper + CONVERGED))
    for _ in range(MAX_ITERATIONS):
        out = _redistribute(out, upper, valid, count, target, todo)
        residual = np.where(has_smap, coarse - _block_mean(out, valid, count), np.nan)
        if not np.any(np.abs(residual[has_smap & ~converged & ~infeasible]) > LEFTOVER):
            break
    clipped |= infeasible[:, None, :, None] & valid  # the whole cell is held at a bound
    qa = _qa_bits(valid, clipped, np.isfinite(coarse))
    shape = fine.shape
    return Correction(out.reshape(shape), qa.reshape(shape), residual, infeasible)


def conserve_mass_in_tiles(
    model: ArrayLike,
    smap: ArrayLike,
    factor: int,
    porosity: float | ArrayLike = DEFAULT_POROSITY,
    tile_cells: int = 4,
) -> Correction:
    """:func:`conserve_mass` applied tile by tile (``tile_cells`` x ``tile_cells`` coarse cells).

    Same result as one call on the whole field (cells are independent; only the summation order
    of a cell's mean can differ, at the 1e-16 level), but the temporaries are those of one tile,
    so the correction's memory does not grow with the region.
    """
    fine, coarse, bound = _checked_inputs(model, smap, factor, porosity)
    values = np.empty(fine.shape, np.float64)
    qa = np.empty(fine.shape, np.uint8)
    residual = np.empty(coarse.shape, np.float64)
    infeasible = np.empty(coarse.shape, bool)
    step = max(1, tile_cells)
    for r in range(0, coarse.shape[0], step):
        for c in range(0, coarse.shape[1], step):
            cells = (slice(r, r + step), slice(c, c + step))
            pixels = (slice(r * factor, (r + step) * factor), slice(c * factor, (c + step) * factor))
            part = conserve_mass(fine[pixels], coarse[cells], factor, bound[pixels])
            values[pixels], qa[pixels] = part.values, part.qa
            residual[cells], infeasible[cells] = part.residual, part.infeasible
    return Correction(values, qa, residual, infeasible)


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


def _blocks(field: NDArray, factor: int) -> NDArray:
    """View ``(R*f, C*f)`` as ``(R, f, C, f)``: axes 1 and 3 run inside one coarse cell."""
    rows, cols = field.shape
    return field.reshape(rows // factor, factor, cols // factor, factor)


def _block_sum(blocks: NDArray, valid: NDArray) -> NDArray[np.float64]:
    return np.where(valid, blocks, 0.0).sum(axis=(1, 3))


def _block_mean(blocks: NDArray, valid: NDArray, count: NDArray) -> NDArray[np.float64]:
    with np.errstate(invalid="ignore", divide="ignore"):
        return _block_sum(blocks, valid) / count


def _redistribute(
    out: NDArray, upper: NDArray, valid: NDArray, count: NDArray, target: NDArray, todo: NDArray
) -> NDArray[np.float64]:
    """One pass: move every pixel of an unbalanced cell by the same fraction of its room."""
    deficit = (target[:, 0, :, 0] * count - _block_sum(out, valid))[:, None, :, None]
    headroom = _block_sum(upper - out, valid)[:, None, :, None]
    content = _block_sum(out, valid)[:, None, :, None]
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
