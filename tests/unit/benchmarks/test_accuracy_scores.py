"""The accuracy benchmark's 1 km scores: the figures docs/models.md quotes come from these."""

import numpy as np
import pytest

from benchmarks.accuracy import DayFields, fine_metrics, scores_by_where, where_smap
from smprod.grids.regrid import bilinear_to_fine, upsample_nearest

FACTOR = 4


def _day(seed: int = 0) -> DayFields:
    rng = np.random.default_rng(seed)
    smap = 0.25 + 0.05 * rng.standard_normal((3, 3))
    smap[1, 2] = np.nan  # one cell without SMAP
    truth = upsample_nearest(np.nan_to_num(smap, nan=0.3), FACTOR) + 0.02 * rng.standard_normal((12, 12))
    porosity = np.full(truth.shape, 0.45)
    return DayFields(None, truth, smap, porosity, bilinear_to_fine(smap, FACTOR))  # type: ignore[arg-type]


def test_masks_split_the_pixels_by_whether_their_cell_has_smap():
    masks = where_smap(_day().smap, FACTOR)
    assert masks["all"].all()
    assert masks["no-SMAP cells"].sum() == FACTOR * FACTOR and masks["no-SMAP cells"][4:8, 8:12].all()
    assert not (masks["SMAP cells"] & masks["no-SMAP cells"]).any()


def test_resampling_adds_nothing_and_the_truth_is_perfect():
    f = _day()
    bilinear = fine_metrics(f.bilinear, f.truth, f.bilinear, FACTOR)
    assert bilinear["added_value_r"] == 0.0 and np.isnan(bilinear["coverage"])
    truth = fine_metrics(f.truth, f.truth, f.bilinear, FACTOR)
    assert truth["ubrmse"] == 0.0 and truth["subgrid_r"] == pytest.approx(1.0)


def test_coverage_is_the_share_of_errors_within_sigma():
    f = _day()
    field = f.truth + np.where(np.arange(144).reshape(12, 12) % 4 == 0, 0.05, 0.01)  # a quarter off by 0.05
    scores = fine_metrics(field, f.truth, f.bilinear, FACTOR, sigma=np.full(field.shape, 0.02))
    assert scores["coverage"] == pytest.approx(0.75)


def test_scores_by_where_score_only_the_pixels_of_each_mask():
    f = _day()
    field = f.truth.copy()
    field[4:8, 8:12] += 0.1  # wrong only where SMAP is missing
    scores = scores_by_where(field, f, FACTOR)
    assert scores["SMAP cells"]["rmse"] == 0.0
    assert scores["no-SMAP cells"]["rmse"] == pytest.approx(0.1)
    assert 0 < scores["all"]["rmse"] < 0.1


def test_a_field_with_no_value_scores_nan_under_the_same_names():
    f = _day()
    empty = fine_metrics(np.full(f.truth.shape, np.nan), f.truth, f.bilinear, FACTOR)
    assert set(empty) == set(fine_metrics(f.truth, f.truth, f.bilinear, FACTOR))
    assert all(np.isnan(v) for v in empty.values())
