"""Sampling the product variants at station cells, from arrays and from published files."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
import rasterio
import xarray as xr
from numpy.testing import assert_allclose

from smprod.errors import ProductError
from smprod.grids.ease import EaseGrid, region_from_bbox
from smprod.grids.regrid import bilinear_to_fine
from smprod.layout import WorkLayout
from smprod.validation.matchups import (
    DayFields,
    StationSite,
    locate,
    read_day_fields,
    sample_day,
)

REGION = region_from_bbox((-97.6, 36.5, -97.4, 36.7), 36)  # 2x2 coarse cells, 72x72 at 1 km
DAY = date(2018, 5, 2)


def _site(station_id: int, lon: float, lat: float) -> StationSite:
    return StationSite(station_id, f"NET/S{station_id}/probe/0.05-0.05", "NET", lon, lat)


def _centre_lonlat(fine_row: int, fine_col: int) -> tuple[float, float]:
    lon, lat = EaseGrid(1).lonlat(REGION.fine.row0 + fine_row, REGION.fine.col0 + fine_col)
    return float(lon), float(lat)


def test_locate_uses_the_region_offsets_and_reports_outside_stations():
    inside = _site(1, *_centre_lonlat(40, 5))
    far = _site(2, 2.9567, 43.15)  # SMOSMANIA Narbonne, France
    cells, outside = locate([inside, far], REGION)
    assert outside == [far]
    assert [(c.fine_row, c.fine_col, c.coarse_row, c.coarse_col) for c in cells] == [(40, 5, 1, 0)]


def test_sample_day_reads_each_variant_at_the_station_cell():
    rng = np.random.default_rng(0)
    corrected = rng.uniform(0.1, 0.4, REGION.fine.shape)
    uncorrected = corrected + 0.01
    coarse = np.array([[0.20, 0.25], [0.30, np.nan]])
    precip = np.full(REGION.fine.shape, 4.0)
    cells, _ = locate([_site(1, *_centre_lonlat(40, 5)), _site(2, *_centre_lonlat(50, 60))], REGION)
    fields = DayFields(DAY, corrected, "3", "run-a", coarse, uncorrected, precip)
    rows = sample_day(fields, cells, {1: 0.22, 2: 0.31}, REGION)
    by = {(r["station_id"], r["variant"]): r for r in rows}
    assert len(rows) == 10
    assert_allclose(by[1, "corrected"]["product"], corrected[40, 5])
    assert_allclose(by[1, "uncorrected"]["product"], corrected[40, 5] + 0.01)
    # the model output's mean over the station's SMAP cell (row 1, col 0 of the coarse grid)
    assert_allclose(by[1, "uncorrected_cell"]["product"], uncorrected[36:72, 0:36].mean())
    assert_allclose(by[2, "uncorrected_cell"]["product"], uncorrected[36:72, 36:72].mean())
    assert_allclose(by[1, "smap"]["product"], 0.30)
    assert_allclose(by[1, "bilinear"]["product"], bilinear_to_fine(coarse, 36)[40, 5])
    assert by[2, "smap"]["product"] is None  # its coarse cell has no SMAP value
    assert_allclose(by[2, "bilinear"]["product"], bilinear_to_fine(coarse, 36)[50, 60])
    row = by[1, "corrected"]
    assert (row["insitu"], row["precip"], row["model_version"], row["model_run_id"]) == (
        0.22,
        4.0,
        "3",
        "run-a",
    )
    assert (row["fine_row"], row["fine_col"]) == (REGION.fine.row0 + 40, REGION.fine.col0 + 5)


def test_stations_without_insitu_value_and_missing_variants_give_no_rows():
    cells, _ = locate([_site(1, *_centre_lonlat(3, 3)), _site(2, *_centre_lonlat(4, 4))], REGION)
    rows = sample_day(
        DayFields(DAY, np.full(REGION.fine.shape, 0.2)), cells, {2: 0.1, 1: float("nan")}, REGION
    )
    assert [(r["station_id"], r["variant"]) for r in rows] == [(2, "corrected")]
    assert rows[0]["model_version"] == "unknown"


def test_arrays_on_another_grid_are_refused():
    with pytest.raises(ProductError, match="coarse_sm"):
        sample_day(DayFields(DAY, np.zeros(REGION.fine.shape), coarse_sm=np.zeros((3, 3))), [], {}, REGION)


def _write_cog(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff", "dtype": "float32", "count": 1, "crs": "EPSG:6933", "nodata": np.nan,
        "transform": REGION.fine.transform, "height": data.shape[0], "width": data.shape[1],
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(np.float32), 1)


def test_day_fields_are_read_from_published_files(tmp_path):
    layout = WorkLayout(tmp_path)
    files = layout.product_files(DAY)
    assert read_day_fields(layout, DAY, REGION) is None  # not published yet
    sm = np.full(REGION.fine.shape, 0.25, dtype=np.float32)
    sm[0, 0] = np.nan
    _write_cog(files.soil_moisture, sm)
    files.provenance.write_text(json.dumps({"model": {"name": "m", "version": "7", "run_id": "abc"}}))
    inputs = layout.inputs_dir(DAY)
    coarse = xr.Dataset(
        {"sm": (("y", "x"), np.array([[0.1, 0.2], [0.3, 0.4]]))}, coords=REGION.coarse.coords()
    )
    fine = xr.Dataset({"precip": (("y", "x"), np.full(REGION.fine.shape, 2.5))}, coords=REGION.fine.coords())
    inputs.mkdir(parents=True)
    coarse.to_netcdf(inputs / "coarse.nc")
    fine.to_netcdf(inputs / "fine.nc")
    fields = read_day_fields(layout, DAY, REGION)
    assert fields is not None and (fields.model_version, fields.model_run_id) == ("7", "abc")
    assert np.isnan(fields.corrected[0, 0])
    assert_allclose(fields.corrected[1, 1], 0.25, rtol=1e-6)
    assert fields.uncorrected is None  # not published: only production's in-memory day has it
    assert_allclose(fields.coarse_sm, [[0.1, 0.2], [0.3, 0.4]])
    assert_allclose(fields.precip[5, 5], 2.5)


def test_product_on_another_grid_is_a_product_error(tmp_path):
    layout = WorkLayout(tmp_path)
    files = layout.product_files(DAY)
    _write_cog(files.soil_moisture, np.zeros((36, 36)))
    files.provenance.write_text(json.dumps({"model": {"name": "m", "version": "7", "run_id": "abc"}}))
    with pytest.raises(ProductError, match="another --bbox"):
        read_day_fields(layout, DAY, REGION)


def test_a_product_without_its_provenance_is_a_product_error(tmp_path):
    layout = WorkLayout(tmp_path)
    _write_cog(layout.product_files(DAY).soil_moisture, np.full(REGION.fine.shape, 0.2))
    with pytest.raises(ProductError, match="cannot be read"):
        read_day_fields(layout, DAY, REGION)
