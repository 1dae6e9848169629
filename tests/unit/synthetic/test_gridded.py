"""Gridded inputs written straight from a world: what ingest writes, readable by the predictor."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
import xarray as xr

from smprod.grids.ease import region_from_bbox
from smprod.inputs.dayfiles import FINE_VARIABLES, InputStore
from smprod.layout import WorkLayout
from smprod.science.features import PREDICTORS, fine_features
from smprod.synthetic.gridded import write_gridded_inputs
from smprod.synthetic.world import simulate


def test_gridded_inputs_have_ingests_variables_and_tile_chunks(tmp_path):
    region = region_from_bbox((-100.0, 35.0, -97.5, 36.5), 36)
    world = simulate(region, date(2024, 6, 1), ndays=9, seed=3, spinup=2)
    layout = WorkLayout(tmp_path)
    days = write_gridded_inputs(world, layout, seed=3)
    assert len(days) == 9
    last = days[-1]
    with xr.open_dataset(layout.inputs_dir(last) / "fine.nc") as fine:
        assert set(FINE_VARIABLES) <= set(fine.data_vars)
        assert fine["lst_day"].shape == region.fine.shape
        side = region.tile_pixels
        expected = (min(side, region.fine.nrows), min(side, region.fine.ncols))
        assert fine["ndvi"].encoding["chunksizes"] == expected
    with xr.open_dataset(layout.inputs_dir(last) / "coarse.nc") as coarse:
        assert np.isfinite(coarse["sm_lag7"]).any()  # D-7 is inside the nine days
        sm = coarse["sm"].values
        assert 0.2 < np.isfinite(sm).mean() < 0.8  # SMAP's overpass gaps
    frame, _ = fine_features(last, region, InputStore(layout))
    assert list(frame.columns) == list(PREDICTORS)
    modis = ["lst_day", "lst_night", "ndvi", "evi", "albedo"]
    assert np.isfinite(frame[modis].to_numpy()).all()  # gap filled everywhere
    assert np.isfinite(frame["sm_lag3"].to_numpy()).mean() > 0.8  # SMAP gaps bridged by bilinear


@pytest.mark.parametrize(
    "bbox", [(178.0, 60.0, 180.0, 62.0), (-180.0, 60.0, -178.0, 62.0), (10.0, 83.0, 12.0, 85.0)]
)
def test_imerg_window_stays_inside_the_globe_at_its_edges(bbox):
    from smprod.grids.ease import region_from_bbox
    from smprod.synthetic.archive import latlon_window

    rows, cols, _ = latlon_window(region_from_bbox(bbox))
    assert 0 <= rows.start < rows.stop <= 1800 and 0 <= cols.start < cols.stop <= 3600
