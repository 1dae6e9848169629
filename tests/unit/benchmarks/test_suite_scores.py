"""The accuracy suite's scores (benchmarks/suite.py): the suite: line is made of these."""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_allclose

from benchmarks.suite import Scores, _conservation_residual, _Pooled, summary_line
from smprod.grids.regrid import bilinear_to_fine, upsample_nearest
from smprod.science.correction import conserve_mass_in_blocks

FACTOR = 3


def _fields(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    smap = 0.25 + 0.05 * rng.standard_normal((6, 6))
    truth = upsample_nearest(smap, FACTOR) + 0.03 * rng.standard_normal((18, 18))
    return truth, smap, bilinear_to_fine(smap, FACTOR), np.full(truth.shape, 0.45)


def test_bilinear_scores_one_and_zero_added_value_and_the_truth_is_perfect():
    truth, smap, bilinear, porosity = _fields()
    scale = (FACTOR, 1, (0, 0))
    for field, ratio, av in ((bilinear, 1.0, 0.0), (truth, 0.0, 1.0)):
        pooled = _Pooled()
        pooled.add(field, truth, bilinear, smap, porosity, scale, None)
        s = pooled.scores()
        assert_allclose([s.ratio, s.av_r], [ratio, av], atol=1e-9)


def test_ratio_is_the_pooled_ubrmse_ratio():
    truth, smap, bilinear, porosity = _fields()
    noisy = truth + 0.01 * np.random.default_rng(1).standard_normal(truth.shape)
    pooled = _Pooled()
    pooled.add(noisy, truth, bilinear, smap, porosity, (FACTOR, 1, (0, 0)), np.full(truth.shape, 0.01))
    s = pooled.scores()
    expected = np.std(noisy - truth) / np.std(bilinear - truth)
    assert_allclose(s.ratio, expected)
    assert 0.6 < s.coverage < 0.76  # Gaussian errors of sigma 0.01 within 0.01: about 68 %


def test_residual_is_judged_at_the_conservation_scale():
    truth, smap, _, porosity = _fields()
    block, offset = 2, (1, 0)
    corrected = conserve_mass_in_blocks(truth, smap, FACTOR, block, offset, porosity).values
    assert _conservation_residual(corrected, smap, porosity, FACTOR, block, offset) < 1e-12
    # per coarse cell the blocks' product does not keep SMAP: that residual is large
    assert _conservation_residual(corrected, smap, porosity, FACTOR, 1, (0, 0)) > 1e-3


def test_summary_line_reports_worst_and_median():
    results = {
        name: {"product": Scores(ratio, av, sub, 0.0, np.nan)}
        for name, ratio, av, sub in (("a", 0.8, 0.6, 0.7), ("b", 0.9, 0.4, 0.5), ("c", 0.95, 0.5, 0.6))
    }
    assert summary_line(results, "product") == (
        "suite: worlds=3 worst_ratio=0.950 median_ratio=0.900 worst_av_r=0.400 "
        "median_av_r=0.500 median_subgrid_r=0.600"
    )


def test_station_scores_compare_every_variant_on_the_same_days():
    """SMAP has a gap on day 2 where the product (from the model alone) is far off: scored on its
    own days the product would carry that day and SMAP not; on the common days both skip it."""
    from benchmarks.suite import MIN_STATION_DAYS, _station_ubrmse

    observed = [0.20, 0.25, 0.30, 0.22, 0.28]
    smap = [0.21, 0.27, float("nan"), 0.23, 0.30]
    product = [0.20, 0.26, 0.45, 0.22, 0.29]
    got = _station_ubrmse({"smap": [(smap, observed)], "product": [(product, observed)]})
    common = [0, 1, 3, 4]
    for name, series in (("smap", smap), ("product", product)):
        expected = np.std([series[i] - observed[i] for i in common])
        assert_allclose(got[name], expected)
    assert got["product"] < got["smap"]
    # a station with fewer common days than MIN_STATION_DAYS is left out of every variant
    short = [([*smap[: MIN_STATION_DAYS - 1], float("nan")], observed[:MIN_STATION_DAYS])]
    left_out = _station_ubrmse(
        {"smap": short, "product": [(product[:MIN_STATION_DAYS], observed[:MIN_STATION_DAYS])]}
    )
    assert np.isnan(left_out["smap"]) and np.isnan(left_out["product"])


def test_every_sampled_pixel_is_a_station_scored_on_the_common_days():
    """Two pixels sampled (step 3 of a 4 x 4 field): one with a day SMAP misses, one without."""
    from benchmarks.suite import PIXEL_STATION_STEP, _PixelStations

    assert PIXEL_STATION_STEP == 3
    rng = np.random.default_rng(0)
    stations = _PixelStations()
    days = 5
    truth = [0.2 + 0.05 * rng.random((4, 4)) for _ in range(days)]
    errors = 0.01 * rng.standard_normal((days, 4, 4))
    for day in range(days):
        smap = truth[day] + 0.03
        if day == 2:
            smap[0, 0] = np.nan
        stations.add(truth[day], {"smap": smap, "product": truth[day] + errors[day]})
    got = stations.ubrmse()
    # pixels (0, 0), (0, 3), (3, 0), (3, 3); the first without day 2 for every variant
    assert got["product"].shape == (4,)
    assert_allclose(got["product"][0], np.std(errors[[0, 1, 3, 4], 0, 0]), rtol=1e-6)
    assert_allclose(got["product"][3], np.std(errors[:, 3, 3]), rtol=1e-6)
    assert_allclose(got["smap"], 0.0, atol=1e-6)  # a constant bias is no unbiased error


def test_station_miss_chance_is_the_share_of_station_sets_where_the_target_fails():
    from benchmarks.suite import station_miss_chance

    product = np.array([0.01, 0.01, 0.01, 0.07])
    per_pixel = {"product": product, "bilinear": np.full(4, 0.02), "smap": np.full(4, 0.03)}
    # one station misses only when it is the fourth pixel: a quarter of the draws
    assert abs(station_miss_chance(per_pixel, "product", 1) - 0.25) < 0.03
    # the mean over all pixels (0.025) is above bilinear's: many stations almost always miss
    assert station_miss_chance(per_pixel, "product", 400) > 0.95
    better = {**per_pixel, "product": np.full(4, 0.015)}
    assert station_miss_chance(better, "product", 12) == 0.0
    assert station_miss_chance(better, "bilinear", 12) == 1.0
