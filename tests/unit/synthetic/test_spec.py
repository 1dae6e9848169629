"""The world knobs: the default world is unchanged, each knob does what it says, the suite differs."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from smprod.grids.ease import region_from_bbox
from smprod.grids.regrid import block_mean, upsample_nearest
from smprod.synthetic.archive import SmapError
from smprod.synthetic.spec import SUITE, WorldSpec, suite_world
from smprod.synthetic.world import simulate

REGION = region_from_bbox((-100.0, 35.0, -99.0, 35.8), 36)
START = date(2024, 6, 1)
#: Fingerprint of a tiny default world, per field over its 3 days: mean, standard deviation, mean
#: weighted by a fixed random pattern (catches moved pixels) and the count of missing pixels. It was
#: a SHA-256 of the bytes (from main at 45b1164, before the knobs existed), but numpy's SIMD
#: transcendental functions differ in the last bit between CPUs (AVX-512 vs AVX2), so the bytes
#: changed on a new machine while the world did not. These figures were taken on an AVX2 machine
#: from the same code; they are compared to 1e-9, far below what any change to the model makes.
DEFAULT_WORLD_FINGERPRINT = {
    "theta": (0.29998848597111566, 0.08303825982847947, 0.1500469109362729, 0),
    "precip": (10.731809554219646, 17.530663851012875, 5.347997204510526, 0),
    "lst_day_terra": (293.74890271698104, 1.914859579247674, 148.10332758167155, 14056),
    "lst_night_aqua": (290.16372062284796, 1.6467673206526123, 145.1501730024281, 15148),
    "ndvi": (0.5035874191445913, 0.14000238129796752, 0.2520097228587838, 0),
    "albedo_bsa": (0.1434990733064103, 0.03157641602674332, 0.07187445679598578, 0),
}
_FIELDS = {
    "theta": lambda d: d.theta,
    "precip": lambda d: d.precip,
    "lst_day_terra": lambda d: d.lst_day["Terra"],
    "lst_night_aqua": lambda d: d.lst_night["Aqua"],
    "ndvi": lambda d: d.ndvi,
    "albedo_bsa": lambda d: d.albedo_bsa,
}


def _tiny_world(spec: WorldSpec | None):
    return simulate(REGION, START, 3, seed=5, spinup=2, spec=spec)


def _digest(world) -> str:
    digest = hashlib.sha256()
    for d in world.days:
        for get in _FIELDS.values():
            digest.update(get(d).tobytes())
    return digest.hexdigest()


def _fingerprint(world) -> dict[str, tuple[float, float, float, int]]:
    prints = {}
    for name, get in _FIELDS.items():
        stack = np.stack([get(d) for d in world.days]).astype(np.float64)
        pattern = np.random.default_rng(0).random(stack.shape)
        prints[name] = (
            float(np.nanmean(stack)),
            float(np.nanstd(stack)),
            float(np.nanmean(stack * pattern)),
            int(np.isnan(stack).sum()),
        )
    return prints


def test_default_knobs_write_the_world_smprod_always_wrote():
    assert WorldSpec().describe() == {}
    unspecified = _tiny_world(None)
    # on one machine, the default knobs and no knobs give the same bytes
    assert _digest(_tiny_world(WorldSpec())) == _digest(unspecified)
    fingerprint = _fingerprint(unspecified)
    for name, (mean, std, weighted, missing) in DEFAULT_WORLD_FINGERPRINT.items():
        assert fingerprint[name][3] == missing, name
        np.testing.assert_allclose(fingerprint[name][:3], (mean, std, weighted), rtol=1e-9, err_msg=name)


def _sub_grid_std(spec: WorldSpec) -> float:
    world = simulate(REGION, START, 2, seed=3, spinup=10, spec=spec)
    theta = world.days[-1].theta
    return float((theta - upsample_nearest(block_mean(theta, REGION.factor), REGION.factor)).std())


def test_micro_pattern_and_wetness_add_sub_grid_structure():
    # in a drydown (semi-arid), where water retention and redistribution set the pattern
    base = _sub_grid_std(WorldSpec(climate="semi_arid"))
    assert _sub_grid_std(WorldSpec(climate="semi_arid", micro_pattern=0.03)) > base * 1.15
    assert _sub_grid_std(WorldSpec(climate="semi_arid", wetness_weight=3.0)) > base * 1.15


def test_irrigated_pixels_are_cropland_and_wetter():
    world = simulate(REGION, START, 6, seed=3, spinup=12, spec=WorldSpec(climate="semi_arid", irrigation=0.3))
    irrigated = world.statics.irrigated
    assert irrigated is not None
    np.testing.assert_allclose(irrigated.mean(), 0.3, atol=0.02)
    assert np.all(world.statics.landcover[irrigated] == 12)
    wetter = [d.theta[irrigated].mean() - d.theta[~irrigated].mean() for d in world.days]
    assert np.mean(wetter) > 0.05 and min(wetter) > 0.0


def test_semi_arid_is_drier_than_humid():
    humid = simulate(REGION, START, 10, seed=3, spec=WorldSpec())
    dry = simulate(REGION, START, 10, seed=3, spec=WorldSpec(climate="semi_arid"))
    assert np.mean([d.theta.mean() for d in dry.days]) < np.mean([d.theta.mean() for d in humid.days]) - 0.02


def test_illumination_warms_sun_facing_slopes():
    spec = WorldSpec(relief=4.0, illumination_k=3.0, cloud=(0.0, 0.0))
    world = simulate(REGION, START, 1, seed=3, spinup=2, spec=spec)
    lst, light = world.days[0].lst_day["Terra"], world.statics.illumination
    assert light is not None
    ok = np.isfinite(lst)
    assert np.corrcoef(lst[ok], light[ok])[0, 1] > 0.3


def test_cloud_range_after_rain_and_cold_edges():
    clear = simulate(REGION, START, 6, seed=3, spinup=2, spec=WorldSpec(cloud=(0.1, 0.2)))
    for day in clear.days:
        cover = np.isnan(day.lst_day["Terra"]).mean()
        assert 0.08 <= cover <= 0.45  # 0.1-0.2 plus at most 0.25 after rain (not set here: 0)
    plain = simulate(REGION, START, 1, seed=3, spinup=2, spec=WorldSpec(cloud=(0.4, 0.4)))
    edged = simulate(REGION, START, 1, seed=3, spinup=2, spec=WorldSpec(cloud=(0.4, 0.4), cloud_edge_k=3.0))
    a, b = plain.days[0].lst_day["Terra"], edged.days[0].lst_day["Terra"]
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))  # edges pass the cloud mask
    cooled = np.isfinite(a) & (b < a - 1.0)
    assert 0.02 < cooled.mean() < 0.5
    np.testing.assert_allclose((a - b)[cooled], 3.0, atol=1e-3)


def test_smap_error_model_static_bias_correlation_and_offsets():
    region = region_from_bbox((-100.0, 34.0, -94.0, 38.0), 36)
    spec = WorldSpec(smap_static_bias=0.02, smap_error_km=72.0, smap_ampm_offset=0.01)
    error = SmapError.draw(spec, region, 36, np.random.default_rng(0))
    bias = np.asarray(error.static_bias)
    assert bias.shape == region.coarse.shape
    np.testing.assert_allclose(bias.std(), 0.02, rtol=0.05)
    # correlated over 2 cells: neighbours are alike
    assert np.corrcoef(bias[:, :-1].ravel(), bias[:, 1:].ravel())[0, 1] > 0.5
    np.testing.assert_allclose(error.offsets[1] - error.offsets[0], 0.01)
    white = SmapError.draw(WorldSpec(), region, 36, np.random.default_rng(0))
    assert white.static_bias == 0.0 and white.correlation_cells == 0.0


def test_the_suite_differs_the_way_the_issue_asks():
    assert len(SUITE) >= 6
    assert sum(w.coarse_km == 9 for w in SUITE) >= 2 and sum(w.coarse_km == 36 for w in SUITE) >= 2
    assert any(w.spec.climate == "semi_arid" and w.spec.relief > 1 for w in SUITE)
    assert any(w.history <= 21 for w in SUITE)
    assert sum(not w.tuning for w in SUITE) == 2
    assert len({w.name for w in SUITE}) == len(SUITE)
    assert suite_world("sierra-9").coarse_product == "SPL3SMP_E"
    with pytest.raises(KeyError, match="plains-36"):
        suite_world("nowhere")
    assert replace(SUITE[0], history=21).days == 8 + 21 + SUITE[0].test
