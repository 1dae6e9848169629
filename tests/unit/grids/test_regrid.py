"""Block operations between nested grids."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from smprod.grids.regrid import (
    as_blocks,
    bilinear_at,
    bilinear_to_fine,
    block_mean,
    block_mode,
    block_sum,
    deviation_from_cell_mean,
    nearest_valid,
    upsample_nearest,
    valid_block_mean,
)


def test_block_mean_is_mean_of_valid_cells_with_50_percent_rule():
    fine = np.arange(16, dtype=float).reshape(4, 4)
    fine[0, 0] = np.nan  # block (0,0): 1 of 4 invalid -> mean of the other three
    fine[2:4, 2] = np.nan  # block (1,1): 2 of 4 invalid -> still valid (not more than half)
    fine[2, 0:2] = np.nan
    fine[3, 0] = np.nan  # block (1,0): 3 of 4 invalid -> NaN
    out = block_mean(fine, 2)
    assert_allclose(out[0, 0], np.mean([1, 4, 5]))
    assert_allclose(out[0, 1], np.mean([2, 3, 6, 7]))
    assert np.isnan(out[1, 0])
    assert_allclose(out[1, 1], np.mean([11, 15]))


def test_block_mode_picks_majority_and_respects_nodata():
    fine = np.array([[1, 1, 2, 2], [1, 3, -1, -1], [5, 5, 4, 4], [6, 6, 4, -1]])
    out = block_mode(fine, 2)
    np.testing.assert_array_equal(out, [[1, -1], [5, 4]])


def test_bilinear_reproduces_a_plane_inside_and_keeps_the_block_mean():
    rows, cols = np.indices((5, 6))
    coarse = 0.1 + 0.01 * rows + 0.02 * cols
    fine = bilinear_to_fine(coarse, 4)
    fr = (np.arange(20) + 0.5) / 4 - 0.5
    fc = (np.arange(24) + 0.5) / 4 - 0.5
    expect = 0.1 + 0.01 * np.clip(fr, 0, 4)[:, None] + 0.02 * np.clip(fc, 0, 5)[None, :]
    assert_allclose(fine, expect, atol=1e-12)
    # interior blocks of a plane keep their mean exactly
    assert_allclose(block_mean(fine, 4)[1:-1, 1:-1], coarse[1:-1, 1:-1], atol=1e-12)


def test_bilinear_skips_missing_cells():
    coarse = np.full((3, 3), 0.2)
    coarse[1, 1] = np.nan
    fine = bilinear_to_fine(coarse, 3)
    # only the fine cell exactly on the missing centre has no valid neighbour weight
    assert np.isnan(fine[4, 4])
    fine[4, 4] = 0.2
    assert_allclose(fine, 0.2)
    assert np.all(np.isnan(bilinear_to_fine(np.full((2, 2), np.nan), 3)))


def test_upsample_nearest_inverts_block_mean():
    coarse = np.random.default_rng(0).random((3, 4))
    assert_allclose(block_mean(upsample_nearest(coarse, 9), 9), coarse)


def test_shape_must_be_whole_blocks():
    with pytest.raises(ValueError, match="blocks"):
        block_mean(np.zeros((5, 4)), 2)


def test_bilinear_window_equals_the_window_of_the_whole_field():
    from smprod.grids.regrid import bilinear_window

    rng = np.random.default_rng(5)
    coarse = rng.random((5, 7))
    coarse[2, 3] = np.nan
    whole = bilinear_to_fine(coarse, 4)
    for row0, col0, nrows, ncols in [(0, 0, 8, 8), (4, 8, 12, 12), (16, 20, 4, 8), (0, 0, 20, 28)]:
        part = bilinear_window(coarse, 4, row0, col0, nrows, ncols)
        np.testing.assert_allclose(part, whole[row0 : row0 + nrows, col0 : col0 + ncols], rtol=0, atol=1e-12)


@pytest.mark.parametrize("factor", [1, 4, 9])
def test_bilinear_at_one_cell_equals_the_whole_field(factor):
    rng = np.random.default_rng(factor)
    coarse = rng.random((5, 6))
    coarse[1, 2] = coarse[4, 0] = np.nan
    coarse[3, 5] = np.inf  # not a value either
    whole = bilinear_to_fine(coarse, factor)
    at = np.array([[bilinear_at(coarse, factor, r, c) for c in range(6 * factor)] for r in range(5 * factor)])
    assert_allclose(at, whole, rtol=1e-12, atol=1e-15, equal_nan=True)


def test_bilinear_at_is_nan_without_a_valid_neighbour():
    coarse = np.full((3, 3), np.nan)
    coarse[0, 0] = 0.2
    assert bilinear_at(coarse, 4, 0, 0) == pytest.approx(0.2)
    assert np.isnan(bilinear_at(coarse, 4, 11, 11))


def test_nearest_valid_fills_each_gap_from_its_closest_cell():
    coarse = np.array([[0.1, np.nan, np.nan], [np.nan, np.nan, 0.3]])
    np.testing.assert_array_equal(nearest_valid(coarse), [[0.1, 0.1, 0.3], [0.1, 0.3, 0.3]])
    assert np.isnan(nearest_valid(np.full((2, 2), np.nan))).all()


def test_block_parts_give_the_mean_of_whatever_cells_are_valid():
    fine = np.arange(16, dtype=float).reshape(4, 4)
    fine[2, 0:2] = np.nan
    fine[3, 0] = np.nan  # block (1,0): only 13 is valid
    blocks = as_blocks(fine, 2)
    assert blocks.shape == (2, 2, 2, 2)
    valid = np.isfinite(blocks)
    assert_allclose(block_sum(blocks, valid), [[10, 18], [13, 50]])
    mean = valid_block_mean(blocks, valid, valid.sum(axis=(1, 3)))
    assert_allclose(mean, block_mean(fine, 2, max_invalid_fraction=0.99))
    assert_allclose(mean[1, 0], 13.0)
    with pytest.raises(ValueError, match="whole number"):
        as_blocks(np.zeros((4, 5)), 2)


def test_deviation_from_cell_mean_is_taken_over_each_cells_valid_pixels():
    fine = np.array(
        [
            [1.0, 3.0, 10.0, np.nan],
            [np.nan, 2.0, np.nan, np.nan],
        ]
    )
    out = deviation_from_cell_mean(fine, 2)
    # cell 1: mean of 1, 3, 2 = 2; cell 2: only 10 is valid
    assert_allclose(out, [[-1.0, 1.0, 0.0, np.nan], [np.nan, 0.0, np.nan, np.nan]])
    assert np.isnan(deviation_from_cell_mean(np.full((2, 2), np.nan), 2)).all()
