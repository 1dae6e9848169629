"""Properties of the mass-conservation correction on random fields (hypothesis) and hand cases."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal

from smprod.errors import CorrectionError
from smprod.grids.ease import region_from_bbox
from smprod.qa import QA
from smprod.science.correction import (
    CONVERGED,
    DEFAULT_POROSITY,
    REQUIRED_RESIDUAL,
    conservation_blocks,
    conserve_mass,
    conserve_mass_in_blocks,
    conserve_mass_in_tiles,
    correct_region,
    gap_shifts,
    porosity_from_texture,
)

SETTINGS = settings(max_examples=150, deadline=None)


@dataclass(frozen=True)
class Case:
    model: np.ndarray
    smap: np.ndarray
    factor: int
    porosity: float | np.ndarray
    #: sigma (coarse cells) of the neighbour correction of cells without SMAP; 0 = off
    gap: float = 0.0


def _maybe_nan(values: st.SearchStrategy[float], nan_weight: int) -> st.SearchStrategy[float]:
    return st.one_of(*([values] * 4), *([st.just(float("nan"))] * nan_weight))


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """Random nested fields: values may leave [0, porosity], SMAP may be missing or infeasible."""
    factor = draw(st.integers(1, 6))
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    fine_shape = (shape[0] * factor, shape[1] * factor)
    model = draw(hnp.arrays(np.float64, fine_shape, elements=_maybe_nan(st.floats(-0.3, 0.9), 1)))
    smap = draw(hnp.arrays(np.float64, shape, elements=_maybe_nan(st.floats(-0.05, 0.65), 1)))
    if draw(st.booleans()):
        porosity: float | np.ndarray = draw(st.floats(0.25, 0.6))
    else:
        porosity = draw(hnp.arrays(np.float64, fine_shape, elements=st.floats(0.25, 0.6)))
    return Case(model, smap, factor, porosity, draw(st.sampled_from([0.0, 0.6, 1.5])))


def _block_means(field: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean over valid pixels and valid count per block, computed independently of the module."""
    rows, cols = field.shape[0] // factor, field.shape[1] // factor
    means = np.full((rows, cols), np.nan)
    counts = np.zeros((rows, cols), dtype=int)
    for r in range(rows):
        for c in range(cols):
            block = field[r * factor : (r + 1) * factor, c * factor : (c + 1) * factor]
            counts[r, c] = np.isfinite(block).sum()
            if counts[r, c]:
                means[r, c] = np.nanmean(block)
    return means, counts


def _feasible(case: Case) -> np.ndarray:
    bound = np.broadcast_to(case.porosity, case.model.shape).astype(float)
    mean_bound, count = _block_means(np.where(np.isfinite(case.model), bound, np.nan), case.factor)
    # the module accepts SMAP within 1e-9 of a bound (rounding of the mean), so does the test
    tol = 1e-9
    return np.isfinite(case.smap) & (count > 0) & (case.smap >= -tol) & (case.smap <= mean_bound + tol)


@pytest.mark.parametrize("factor", [1, 3, 6])
@pytest.mark.parametrize("porosity", [0.324, 0.585, 0.6])
def test_smap_exactly_at_porosity_is_feasible(factor: int, porosity: float) -> None:
    # found by hypothesis: an all-zero model with SMAP == porosity was flagged infeasible
    # because the block mean of the bound rounded one ulp below it
    result = conserve_mass(np.zeros((2 * factor, 3 * factor)), np.full((2, 3), porosity), factor, porosity)
    assert not result.infeasible.any()
    assert np.all(np.abs(result.residual) <= REQUIRED_RESIDUAL)


@SETTINGS
@given(cases())
def test_residual_within_requirement_wherever_feasible(case: Case) -> None:
    result = conserve_mass(case.model, case.smap, case.factor, case.porosity, case.gap)
    means, _ = _block_means(result.values, case.factor)
    feasible = _feasible(case)
    assert np.all(np.abs(case.smap - means)[feasible] <= REQUIRED_RESIDUAL)
    assert_allclose(result.residual[feasible], (case.smap - means)[feasible], atol=1e-12)
    assert_array_equal(result.infeasible, np.isfinite(case.smap) & np.isfinite(means) & ~feasible)


@SETTINGS
@given(cases())
def test_values_always_within_physical_bounds(case: Case) -> None:
    result = conserve_mass(case.model, case.smap, case.factor, case.porosity, case.gap)
    bound = np.broadcast_to(case.porosity, case.model.shape)
    finite = np.isfinite(result.values)
    assert np.all(result.values[finite] >= 0.0)
    assert np.all(result.values[finite] <= bound[finite])


@SETTINGS
@given(cases())
def test_nan_pixels_stay_nan_and_are_flagged(case: Case) -> None:
    result = conserve_mass(case.model, case.smap, case.factor, case.porosity, case.gap)
    assert_array_equal(np.isnan(result.values), np.isnan(case.model))
    assert_array_equal((result.qa & QA.NO_RETRIEVAL) > 0, np.isnan(case.model))


@SETTINGS
@given(cases())
def test_correcting_twice_changes_nothing(case: Case) -> None:
    once = conserve_mass(case.model, case.smap, case.factor, case.porosity, case.gap)
    twice = conserve_mass(once.values, case.smap, case.factor, case.porosity, case.gap)
    assert_array_equal(twice.values, once.values)
    assert not np.any(twice.gap_shift)
    assert not np.any(twice.qa & QA.VALUE_CLIPPED & ~once.qa)


@SETTINGS
@given(
    st.integers(1, 6),
    hnp.arrays(np.float64, (3, 2), elements=st.floats(0.1, 0.4)),
    st.randoms(use_true_random=False),
)
def test_field_already_conserving_mass_is_unchanged(factor: int, smap: np.ndarray, rnd) -> None:
    rng = np.random.default_rng(rnd.randint(0, 2**32 - 1))
    anomaly = rng.uniform(-0.04, 0.04, (3 * factor, 2 * factor))
    blocks = anomaly.reshape(3, factor, 2, factor)
    anomaly = (blocks - blocks.mean(axis=(1, 3), keepdims=True)).reshape(anomaly.shape)
    model = np.repeat(np.repeat(smap, factor, 0), factor, 1) + anomaly
    result = conserve_mass(model, smap, factor)
    assert_array_equal(result.values, model)
    assert not np.any(result.qa)


@SETTINGS
@given(cases())
def test_without_gap_correction_cells_without_smap_keep_the_bounded_model_value(case: Case) -> None:
    result = conserve_mass(case.model, case.smap, case.factor, case.porosity, gap_scale_cells=0.0)
    missing = np.repeat(np.repeat(np.isnan(case.smap), case.factor, 0), case.factor, 1)
    bound = np.broadcast_to(case.porosity, case.model.shape)
    expected = np.clip(case.model, 0.0, bound)
    assert_array_equal(result.values[missing], expected[missing])
    assert_array_equal((result.qa & QA.COARSE_MISSING) > 0, missing)
    # overshoots within 1e-9 (rounding) are clipped but deliberately not flagged
    out_of_range = missing & ((case.model < -1e-9) | (case.model > bound + 1e-9))
    assert np.all(result.qa[out_of_range] & QA.VALUE_CLIPPED)
    in_range = missing & (case.model >= 0) & (case.model <= bound)
    assert not np.any(result.qa[in_range] & QA.VALUE_CLIPPED)


@SETTINGS
@given(cases(), st.data())
def test_tiles_aligned_to_coarse_cells_correct_like_the_whole(case: Case, data: st.DataObject) -> None:
    # without gap correction: cells are independent, so separate calls on parts equal the whole
    whole = conserve_mass(case.model, case.smap, case.factor, case.porosity)
    cut = data.draw(st.integers(0, case.smap.shape[1]))
    fine_cut = cut * case.factor
    bound = np.broadcast_to(case.porosity, case.model.shape)
    parts = [
        conserve_mass(case.model[:, cols_f], case.smap[:, cols_c], case.factor, bound[:, cols_f])
        for cols_c, cols_f in (
            (slice(None, cut), slice(None, fine_cut)),
            (slice(cut, None), slice(fine_cut, None)),
        )
        if case.smap[:, cols_c].size
    ]
    # A cell whose mean is within CONVERGED of SMAP is left alone or shifted depending on the
    # summation order of its mean, so the two runs may differ by up to CONVERGED there.
    assert_allclose(np.hstack([p.values for p in parts]), whole.values, rtol=0, atol=2 * CONVERGED)
    assert_array_equal(np.hstack([p.qa for p in parts]), whole.qa)
    assert_array_equal(np.hstack([p.infeasible for p in parts]), whole.infeasible)


@SETTINGS
@given(cases(), st.integers(1, 3))
def test_tiled_correction_equals_the_whole(case: Case, tile_cells: int) -> None:
    whole = conserve_mass(case.model, case.smap, case.factor, case.porosity, case.gap)
    tiled = conserve_mass_in_tiles(case.model, case.smap, case.factor, case.porosity, tile_cells, case.gap)
    assert_allclose(tiled.values, whole.values, rtol=0, atol=2 * CONVERGED)
    assert_array_equal(tiled.gap_shift, whole.gap_shift)
    assert_allclose(tiled.residual, whole.residual, rtol=0, atol=2 * CONVERGED)
    assert_array_equal(tiled.qa, whole.qa)
    assert_array_equal(tiled.infeasible, whole.infeasible)


@SETTINGS
@given(cases())
def test_gap_cells_are_shifted_uniformly_and_flagged(case: Case) -> None:
    result = conserve_mass(case.model, case.smap, case.factor, case.porosity, case.gap)
    missing = np.repeat(np.repeat(np.isnan(case.smap), case.factor, 0), case.factor, 1)
    shift = np.repeat(np.repeat(result.gap_shift, case.factor, 0), case.factor, 1)
    bound = np.broadcast_to(case.porosity, case.model.shape)
    assert_array_equal(result.values[missing], np.clip(case.model + shift, 0.0, bound)[missing])
    assert_array_equal((result.qa & QA.COARSE_MISSING) > 0, missing)
    assert not np.any(result.gap_shift[np.isfinite(case.smap)])


def test_gap_cell_takes_the_weighted_correction_of_its_neighbours() -> None:
    # 1 x 3 cells of 2 x 2 pixels; model 0.2 everywhere; SMAP 0.25 left, none in the middle, 0.31
    # right: corrections +0.05 and +0.11 at equal distance, so the middle is shifted by +0.08
    model = np.full((2, 6), 0.2)
    result = conserve_mass(model, np.array([[0.25, np.nan, 0.31]]), factor=2, gap_scale_cells=1.0)
    assert_allclose(result.gap_shift, [[0.0, 0.08, 0.0]], atol=1e-12)
    assert_allclose(result.values[:, 2:4], 0.28, atol=1e-12)
    assert_allclose(result.values[:, :2], 0.25, atol=1e-12)
    assert_array_equal(result.qa[:, 2:4], QA.COARSE_MISSING)


def test_gap_cell_beyond_reach_takes_the_median_correction() -> None:
    # sigma 0.5 cells reaches 2 cells (3 sigma, rounded): the gap at column 7 has no neighbour
    # with SMAP, so it gets the median of the corrections (+0.01, +0.02, +0.06) = +0.02; columns
    # 3-6 have no model value and get no shift
    model = np.full((1, 8), 0.2)
    model[0, 3:7] = np.nan
    smap = np.array([[0.21, 0.22, 0.26, np.nan, np.nan, np.nan, np.nan, np.nan]])
    shifts = gap_shifts(model, smap, factor=1, scale_cells=0.5)
    assert_allclose(shifts, [[0, 0, 0, 0, 0, 0, 0, 0.02]], atol=1e-12)


def test_gap_shift_is_zero_without_scale_or_without_any_smap() -> None:
    model = np.full((2, 4), 0.2)
    assert not gap_shifts(model, np.array([[0.3, np.nan]]), factor=2, scale_cells=0.0).any()
    assert not gap_shifts(model, np.array([[np.nan, np.nan]]), factor=2, scale_cells=1.5).any()


def test_infeasible_cells_pass_no_correction_on() -> None:
    # SMAP 0.6 above the porosity 0.45 cannot be matched: its neighbour keeps the model value
    model = np.full((1, 2), 0.2)
    assert not gap_shifts(model, np.array([[0.6, np.nan]]), factor=1, scale_cells=1.0, porosity=0.45).any()


def test_hand_computed_clip_is_redistributed_over_headroom() -> None:
    # shift +0.05 -> [0.15, 0.25, 0.35, 0.45]; 0.45 clips to 0.40 (0.05 lost); headroom
    # [0.25, 0.15, 0.05, 0] (sum 0.45): each pixel gains 0.05/0.45 = 1/9 of its headroom.
    model = np.array([[0.10, 0.20], [0.30, 0.40]])
    result = conserve_mass(model, np.array([[0.30]]), factor=2, porosity=0.40)
    expected = np.array([[0.15 + 0.25 / 9, 0.25 + 0.15 / 9], [0.35 + 0.05 / 9, 0.40]])
    assert_allclose(result.values, expected, atol=1e-12)
    assert_array_equal(result.qa, [[0, 0], [0, QA.VALUE_CLIPPED]])
    assert_allclose(result.residual, [[0.0]], atol=1e-12)


def test_hand_computed_infeasible_cell_is_clipped_and_reported() -> None:
    model = np.array([[0.30, 0.50], [np.nan, 0.45]])
    porosity = np.array([[0.40, 0.40], [0.40, 0.46]])
    result = conserve_mass(model, np.array([[0.60]]), factor=2, porosity=porosity)
    assert_allclose(result.values, [[0.40, 0.40], [np.nan, 0.46]])
    assert_array_equal(result.infeasible, [[True]])
    assert_allclose(result.residual, [[0.60 - (0.40 + 0.40 + 0.46) / 3]])
    assert_allclose(result.max_feasible_residual(), 0.0)
    assert_array_equal(result.qa, [[QA.VALUE_CLIPPED] * 2, [QA.NO_RETRIEVAL, QA.VALUE_CLIPPED]])


def test_default_bound_admits_every_valid_smap_value() -> None:
    # SPL3SMP soil_moisture valid range is 0.02..0.5 m3/m3: the default bound must make it feasible
    model = np.full((4, 4), 0.2)
    result = conserve_mass(model, np.array([[0.02, 0.5], [0.5, 0.02]]), factor=2)
    assert DEFAULT_POROSITY >= 0.5
    assert not result.infeasible.any()
    assert result.max_feasible_residual() <= REQUIRED_RESIDUAL


def test_large_field_conserves_mass_in_every_cell() -> None:
    rng = np.random.default_rng(7)
    smap = rng.uniform(0.02, 0.5, (10, 12))
    smap[2, 3] = np.nan
    model = np.repeat(np.repeat(smap, 36, 0), 36, 1) + rng.normal(0, 0.1, (360, 432))
    model[rng.random(model.shape) < 0.05] = np.nan
    result = conserve_mass(model, smap, 36, porosity=0.45)
    means, _ = _block_means(result.values, 36)
    ok = np.isfinite(smap) & (smap <= 0.45)
    assert np.abs(smap - means)[ok].max() <= REQUIRED_RESIDUAL
    assert result.max_feasible_residual() <= REQUIRED_RESIDUAL


def test_porosity_from_texture_follows_cosby_1984() -> None:
    assert_allclose(porosity_from_texture(40.0, 20.0), (50.5 - 0.142 * 40 - 0.037 * 20) / 100)
    assert_allclose(porosity_from_texture([0.0, 100.0], [0.0, 0.0]), [0.505, 0.363])


@pytest.mark.parametrize(
    ("model_shape", "smap_shape", "factor", "porosity"),
    [((4, 4), (2, 3), 2, 0.5), ((4, 4), (2, 2), 3, 0.5), ((4, 4), (2, 2), 2, 0.0), ((4,), (2,), 2, 0.5)],
)
def test_inputs_that_do_not_fit_are_refused(model_shape, smap_shape, factor, porosity) -> None:
    with pytest.raises(CorrectionError):
        conserve_mass(np.zeros(model_shape), np.zeros(smap_shape), factor, porosity)


def _global_block_means(field: np.ndarray, first_cell: tuple[int, int], factor: int, block: int) -> dict:
    """Mean of the finite values of ``field`` per block of the global coarser grid (independent of
    the implementation: pixels grouped by their global block index)."""
    rows, cols = np.indices(field.shape)
    key_r = (first_cell[0] * factor + rows) // (factor * block)
    key_c = (first_cell[1] * factor + cols) // (factor * block)
    out: dict[tuple[int, int], list[float]] = {}
    for r, c, v in zip(key_r.ravel(), key_c.ravel(), field.ravel(), strict=True):
        if np.isfinite(v):
            out.setdefault((int(r), int(c)), []).append(float(v))
    return {k: float(np.mean(v)) for k, v in out.items()}


def test_blocks_conserve_the_global_blocks_mean_of_smap():
    rng = np.random.default_rng(3)
    factor, block, first = 3, 4, (5, 10)  # first coarse cell (global): offset (1, 2) in its block
    smap = rng.uniform(0.1, 0.4, (7, 9))
    smap[rng.random(smap.shape) < 0.2] = np.nan
    model = rng.uniform(0.05, 0.45, (7 * factor, 9 * factor))
    offset = (first[0] % block, first[1] % block)
    result = conserve_mass_in_blocks(model, smap, factor, block, offset, 0.5, tile_cells=8)
    fine_smap = np.repeat(np.repeat(smap, factor, 0), factor, 1)
    # the target of a block: mean of the block's SMAP cells (each cell weighs as its pixels do)
    targets = _global_block_means(fine_smap, first, factor, block)
    means = _global_block_means(result.values, first, factor, block)
    checked = 0
    for key, target in targets.items():
        valid = sum(np.isfinite(smap[r, c]) for r in range(7) for c in range(9)
                    if ((first[0] + r) // block, (first[1] + c) // block) == key)  # fmt: skip
        if valid >= 0.5 * block * block:  # the 50 % rule, over a whole block of the global grid
            assert_allclose(means[key], target, atol=1e-9)
            checked += 1
    assert checked >= 2
    missing = np.repeat(np.repeat(~np.isfinite(smap), factor, 0), factor, 1)
    assert_array_equal((result.qa & QA.COARSE_MISSING) > 0, missing)
    assert np.all((result.values >= 0) & (result.values <= 0.5))


def test_blocks_of_one_cell_are_the_tiled_correction():
    rng = np.random.default_rng(4)
    smap = rng.uniform(0.1, 0.4, (4, 4))
    model = rng.uniform(0.05, 0.45, (12, 12))
    one = conserve_mass_in_blocks(model, smap, 3, 1, (0, 0), 0.5, 2, 1.5)
    tiled = conserve_mass_in_tiles(model, smap, 3, 0.5, 2, 1.5)
    assert_array_equal(one.values, tiled.values)
    assert_array_equal(one.qa, tiled.qa)


def test_correct_region_turns_the_settings_into_blocks_and_cells() -> None:
    region = region_from_bbox((-97.9, 35.0, -97.2, 35.5), 9)
    rng = np.random.default_rng(5)
    smap = rng.uniform(0.1, 0.4, region.coarse.shape)
    smap[0, :2] = np.nan
    model = np.repeat(np.repeat(smap, 9, 0), 9, 1) + rng.normal(0, 0.05, region.fine.shape)
    model = np.where(np.isfinite(model), model, 0.25)
    block, offset = conservation_blocks(region.coarse, 36)
    assert block == 4
    expected = conserve_mass_in_blocks(model, smap, 9, block, offset, 0.5, region.tile_cells, 54.0 / 36)
    result = correct_region(model, smap, region, 0.5, gap_correction_km=54.0, conservation_km=36)
    assert_array_equal(result.values, expected.values)
    assert_array_equal(result.qa, expected.qa)
    assert np.count_nonzero(result.gap_shift) > 0
