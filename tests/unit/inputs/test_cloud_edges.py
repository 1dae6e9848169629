"""Cloud-edge screening of the LST: masks the edges only where the granule shows them cold."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from smprod.inputs.cloud_edges import COLD_EDGE_K, EDGE_PIXELS, screen_cloud_edges
from smprod.inputs.ingest import IngestReport, _screen_edges

SHAPE = (200, 240)


def _clouds(seed: int = 0, cover: float = 0.3) -> np.ndarray:
    """Blobs of cloud a few km across, about ``cover`` of the field."""
    noise = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal(SHAPE), 3)
    return noise > np.quantile(noise, 1 - cover)


def _lst(cloudy: np.ndarray, edge_k: float = 0.0, seed: int = 1) -> np.ndarray:
    """300 K, 1.5 K of pixel noise, a west-east gradient of 8 K; clouds NaN, edges ``edge_k`` colder."""
    values = 300 + 1.5 * np.random.default_rng(seed).standard_normal(SHAPE) + np.linspace(0, 8, SHAPE[1])
    edge = ndimage.binary_dilation(cloudy, iterations=EDGE_PIXELS) & ~cloudy
    return np.where(cloudy, np.nan, values - edge_k * edge).astype(np.float32)


def test_cold_edges_are_masked_and_only_they():
    cloudy = _clouds()
    screened, found = screen_cloud_edges(_lst(cloudy, edge_k=3.0))
    edge = ndimage.binary_dilation(cloudy, iterations=EDGE_PIXELS) & ~cloudy
    # the local mean includes the cold edges themselves, so the contrast reads a little less
    assert -3.5 < found.contrast_k < -2.0
    assert found.masked == edge.sum() == found.edge
    assert np.isnan(screened[edge]).all() and np.isfinite(screened[~cloudy & ~edge]).all()
    assert screened.dtype == np.float32


@pytest.mark.parametrize("seed", range(4))
def test_clean_edges_are_kept(seed):
    values = _lst(_clouds(seed), edge_k=0.0, seed=seed + 10)
    screened, found = screen_cloud_edges(values)
    assert abs(found.contrast_k) < 0.3 and found.masked == 0
    assert screened is values


def test_a_cold_region_under_the_clouds_is_not_an_edge():
    """Clouds over the cold side of a strong gradient: the local mean keeps that apart from edges."""
    cloudy = _clouds()
    cloudy[:, : SHAPE[1] // 2] |= _clouds(seed=5, cover=0.5)[:, : SHAPE[1] // 2]
    values = _lst(cloudy) + np.where(np.arange(SHAPE[1]) < SHAPE[1] // 2, -10.0, 0.0).astype(np.float32)
    _, found = screen_cloud_edges(values)
    assert found.masked == 0 and found.contrast_k > -COLD_EDGE_K


def test_too_few_pixels_to_judge_mask_nothing():
    cloudy = np.zeros(SHAPE, bool)
    cloudy[100, 100] = True
    values = _lst(cloudy, edge_k=5.0)
    screened, found = screen_cloud_edges(values)
    assert np.isnan(found.contrast_k) and found.masked == 0 and screened is values
    for uniform in (np.full(SHAPE, 300.0, np.float32), np.full(SHAPE, np.nan, np.float32)):
        assert screen_cloud_edges(uniform)[1].masked == 0


def test_ingest_notes_what_it_masked():
    report = IngestReport(date(2024, 5, 1), Path("fine.nc"), Path("coarse.nc"))
    _screen_edges(_lst(_clouds(), edge_k=0.0), None, "lst_day MOD11A1", report)
    assert report.missing == []
    screened = _screen_edges(_lst(_clouds(), edge_k=3.0), None, "lst_day MOD11A1", report)
    (note,) = report.missing
    assert note.startswith(f"lst_day MOD11A1: {int(np.isnan(screened).sum() - _clouds().sum())} clear pixels")
    assert "K colder" in note


def test_a_cool_coast_is_not_a_cloud_edge():
    """A lake (no LST) whose shore reads 3 K cool, on a clear day: with the land cover's water
    mask it is not a cloud, so nothing is masked; taken for a cloud it would be."""
    lake = np.zeros(SHAPE, bool)
    lake[60:140, 80:160] = True
    values = _lst(lake, edge_k=3.0)  # the shore is cold as a cloud edge would be
    assert screen_cloud_edges(values)[1].masked > 0
    screened, found = screen_cloud_edges(values, water=lake)
    assert found.masked == 0 and screened is values and np.isnan(found.contrast_k)
    # with clouds beside the lake, the cloud edges are still judged (and clean ones kept)
    cloudy = _clouds() & ~lake
    both = np.where(cloudy, np.nan, values)
    assert screen_cloud_edges(both, water=lake)[1].masked == 0
    cold = _lst(cloudy | lake, edge_k=3.0)
    assert screen_cloud_edges(cold, water=lake)[1].masked > 0
