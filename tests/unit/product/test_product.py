"""Writing, checking and reading a product day: COG validity, grid, determinism, atomicity."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
from numpy.testing import assert_allclose, assert_array_equal

from smprod.errors import ProductError
from smprod.grids.ease import Region, region_from_bbox
from smprod.grids.regrid import block_mean
from smprod.layout import ProductFiles, WorkLayout
from smprod.product.bands import QA_NODATA
from smprod.product.cog import overview_count
from smprod.product.provenance import ModelInfo, ProductInfo
from smprod.product.read import product_problems, read_layers, read_product
from smprod.product.write import correct_and_write, prepare_arrays, staged, write_product
from smprod.qa import QA
from smprod.science.correction import conserve_mass

DAY = date(2024, 6, 1)


@pytest.fixture(scope="module")
def region() -> Region:
    """About 20 x 20 coarse cells: a 1 km grid larger than one 512 px tile, so overviews matter."""
    region = region_from_bbox((-100.0, 34.0, -93.0, 39.0))
    assert max(region.fine.shape) > 512
    return region


@pytest.fixture(scope="module")
def layers(region: Region) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    smap = rng.uniform(0.05, 0.45, region.coarse.shape)
    smap[1, 2] = np.nan
    model = np.repeat(np.repeat(smap, 36, 0), 36, 1) + rng.normal(0, 0.06, region.fine.shape)
    model[:40, :30] = np.nan
    corrected = conserve_mass(model, smap, region.factor)
    sigma = np.abs(rng.normal(0.03, 0.01, region.fine.shape))
    return {"soil_moisture": corrected.values, "qa": corrected.qa, "uncertainty": sigma}


def _info(region: Region, **parameters: object) -> ProductInfo:
    return ProductInfo(
        day=DAY,
        region=region,
        model=ModelInfo("smprod-downscaler", "4", "0123abcd", "random_forest"),
        inputs={"SPL3SMP": ["SMAP_L3_SM_P_20240601_R19240_001.h5"], "MOD11A1": ["b", "a"]},
        coarse_product="SPL3SMP",
        smap_release="R19240_001",
        precip_run="Late",
        software={"smprod": "0.1.0", "gdal": "fixed-for-test"},
        parameters={"porosity": 0.5, **parameters},
    )


def _write(root: Path, region: Region, layers: dict[str, np.ndarray]) -> ProductFiles:
    files = WorkLayout(root).product_files(DAY)
    return write_product(files, layers["soil_moisture"], layers["qa"], layers["uncertainty"], _info(region))


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, region: Region, layers) -> ProductFiles:
    return _write(tmp_path_factory.mktemp("work"), region, layers)


def test_written_day_is_complete_and_consistent(written: ProductFiles, region: Region) -> None:
    assert product_problems(written, region) == []
    assert sorted(p.name for p in written.provenance.parent.iterdir()) == sorted(
        p.name for p in (*written.cogs().values(), written.thumbnail, written.provenance)
    )


@pytest.mark.parametrize(
    ("key", "dtype", "resampling_nodata"),
    [("soil_moisture", "float32", None), ("qa", "uint8", QA_NODATA), ("uncertainty", "float32", None)],
)
def test_cogs_sit_on_the_region_grid_with_nodata_and_metadata(
    written: ProductFiles, region: Region, key: str, dtype: str, resampling_nodata: int | None
) -> None:
    with rasterio.open(written.cogs()[key]) as ds:
        assert ds.crs.to_epsg() == 6933
        assert ds.shape == region.fine.shape
        assert_allclose(tuple(ds.transform)[:6], tuple(region.fine.transform)[:6], rtol=0, atol=1e-6)
        assert ds.dtypes[0] == dtype
        assert ds.block_shapes[0] == (512, 512)
        assert ds.overviews(1) == [2**level for level in range(1, overview_count(region.fine.shape) + 1)]
        assert ds.descriptions[0] == key
        if resampling_nodata is None:
            assert np.isnan(ds.nodata)
            assert ds.units[0] == "m3/m3"
        else:
            assert ds.nodata == resampling_nodata
        assert ds.tags()["TIFFTAG_SOFTWARE"] == "smprod 0.1.0"
        assert "TIFFTAG_DATETIME" not in ds.tags()


def test_qa_band_states_its_bit_meanings(written: ProductFiles) -> None:
    with rasterio.open(written.qa) as ds:
        tags = ds.tags(1)
    assert tags["bit_0"] == "coarse_missing"
    assert tags["bit_2"] == "value_clipped"
    assert tags["bit_7"] == "no_retrieval"
    assert tags["bit_5"] == "smap_lag_filled"
    assert tags["bit_6"] == "precip_filled"
    assert tags["flag_masks"].split() == ["1", "2", "4", "8", "16", "32", "64", "128"]


def test_overviews_average_values_and_keep_flags(written: ProductFiles, layers) -> None:
    with rasterio.open(written.soil_moisture, overview_level=0) as ovr:
        half = ovr.read(1)
    fine = layers["soil_moisture"].astype(np.float32)
    expected = np.nanmean(fine[200:202, 300:302])
    assert_allclose(half[100, 150], expected, rtol=1e-5)
    with rasterio.open(written.qa, overview_level=0) as ovr:
        flags = np.unique(ovr.read(1))
    assert set(flags.tolist()) <= set(np.unique(layers["qa"]).tolist()) | {int(QA.NO_RETRIEVAL)}


def test_same_inputs_give_byte_identical_files(tmp_path: Path, region: Region, layers) -> None:
    first = _write(tmp_path / "a", region, layers)
    time.sleep(1.1)  # a written timestamp (1 s resolution in TIFF/PNG) would now differ
    second = _write(tmp_path / "b", region, layers)
    for key in ("soil_moisture", "qa", "uncertainty", "thumbnail", "provenance"):
        assert getattr(first, key).read_bytes() == getattr(second, key).read_bytes(), key


def test_a_rewrite_over_an_older_day_gives_the_bytes_of_a_first_write(
    tmp_path: Path, written: ProductFiles, region: Region, layers
) -> None:
    older = {**layers, "soil_moisture": layers["soil_moisture"] * 0.5}
    _write(tmp_path, region, older)
    files = _write(tmp_path, region, layers)  # through the staging directory and the exchange
    for key, path in files.assets().items():
        assert path.read_bytes() == getattr(written, key).read_bytes(), key
    assert sorted(p.name for p in files.directory.parent.iterdir()) == ["01"]


def test_read_product_round_trips_the_layers(written: ProductFiles, region: Region, layers) -> None:
    dataset = read_product(written)
    sm = layers["soil_moisture"].astype(np.float32)
    assert_allclose(dataset["soil_moisture"].values, sm, rtol=0, atol=0)
    assert_array_equal(dataset["qa"].values, layers["qa"])
    sigma = np.where(np.isnan(sm), np.nan, layers["uncertainty"]).astype(np.float32)
    assert_allclose(dataset["uncertainty"].values, sigma, rtol=0, atol=0)
    assert dataset.rio.crs.to_epsg() == 6933
    assert_allclose(dataset.x.values, region.fine.x)
    assert_allclose(dataset.y.values, region.fine.y)
    assert dataset.attrs["day"] == "2024-06-01"
    assert json.loads(dataset.attrs["provenance"])["model"]["version"] == "4"
    assert dataset["qa"].attrs["flag_meanings"].split()[0] == "coarse_missing"


#: A window across the boundary of the COGs' 512 px internal tiles (rows 500-529, cols 490-529).
WINDOW = (slice(500, 530), slice(490, 530))


def test_read_layers_reads_a_window_of_the_files(written: ProductFiles, region: Region, layers) -> None:
    read = read_layers(written, WINDOW, grid=region.fine)
    sm = layers["soil_moisture"].astype(np.float32)
    assert_allclose(read.layers["soil_moisture"], sm[WINDOW], rtol=0, atol=0)
    assert_array_equal(read.layers["qa"], layers["qa"][WINDOW])
    assert read.layers["uncertainty"].shape == (30, 40)
    expected = region.fine.window(500, 490, 30, 40).transform
    assert_allclose(tuple(read.transform)[:6], tuple(expected)[:6], rtol=0, atol=1e-6)
    assert read.units["soil_moisture"] == "m3/m3" and read.nodata["qa"] == QA_NODATA
    assert read.provenance["model"]["version"] == "4"


def test_read_product_of_a_window_has_the_window_coordinates(written: ProductFiles, region: Region) -> None:
    dataset = read_product(written, WINDOW)
    window = region.fine.window(500, 490, 30, 40)
    assert_allclose(dataset.x.values, window.x)
    assert_allclose(dataset.y.values, window.y)
    assert_allclose(tuple(dataset.rio.transform())[:6], tuple(window.transform)[:6], rtol=0, atol=1e-6)
    point = read_product(written, (slice(7, 8), slice(9, 10)))  # one pixel
    assert point["soil_moisture"].shape == (1, 1)


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ((slice(0, 10), slice(0, 10_000)), "is not inside"),
        ((slice(-1, 3), slice(0, 2)), "is not inside"),
        ((slice(0, 10, 2), slice(0, 10)), "has a step"),
    ],
)
def test_read_layers_refuses_a_window_outside_the_files(written: ProductFiles, window, message: str) -> None:
    with pytest.raises(ProductError, match=message):
        read_layers(written, window)


def test_read_layers_refuses_files_on_another_grid(written: ProductFiles) -> None:
    other = region_from_bbox((-100.0, 34.0, -99.0, 35.0))
    with pytest.raises(ProductError, match="not on the configured region's 1 km grid"):
        read_layers(written, grid=other.fine)


def test_correct_and_write_conserves_mass_in_the_written_file(tmp_path: Path, region: Region) -> None:
    rng = np.random.default_rng(5)
    smap = rng.uniform(0.02, 0.5, region.coarse.shape)
    smap[0, 0] = np.nan
    model = np.repeat(np.repeat(smap, 36, 0), 36, 1) + rng.normal(0.02, 0.08, region.fine.shape)
    model[:36, :36] = rng.uniform(0.1, 0.3, (36, 36))  # model values where SMAP is missing
    model[100:110, 100:110] = np.nan
    own_qa = np.zeros(region.fine.shape, np.uint8)
    own_qa[:, :5] = QA.MODIS_GAP_FILLED
    files = WorkLayout(tmp_path).product_files(DAY)
    result = correct_and_write(
        files, model, smap, np.full(model.shape, 0.03), own_qa, _info(region), gap_correction_km=54.0
    )
    written = read_product(files)
    means = block_mean(written["soil_moisture"].values, 36, max_invalid_fraction=1.0)
    assert np.nanmax(np.abs(means - smap)) <= 1e-4
    assert np.all(written["qa"].values[:36, :36] & QA.COARSE_MISSING)
    assert np.all(written["qa"].values[100:110, 100:110] & QA.NO_RETRIEVAL)
    assert_array_equal(written["qa"].values, own_qa | result.qa)
    summary = json.loads(written.attrs["provenance"])["parameters"]["correction"]
    assert summary["cells_with_smap"] == np.isfinite(smap).sum()
    assert summary["max_feasible_residual"] <= 1e-4
    # the cell without SMAP is shifted by its neighbours' correction (1.5 cells of 36 km)
    assert summary["gap_cells_shifted"] == 1 and result.gap_shift[0, 0] != 0
    gap = np.clip(model[:36, :36] + result.gap_shift[0, 0], 0.0, 0.5).astype(np.float32)
    assert_array_equal(written["soil_moisture"].values[:36, :36], gap)


def test_failed_write_leaves_no_partial_target(tmp_path: Path, region: Region, layers) -> None:
    files = WorkLayout(tmp_path).product_files(DAY)
    # a parameter JSON cannot hold: the failure comes after the COGs and thumbnail were written
    bad = _info(region, threshold=np.float32(0.5))
    with pytest.raises(ProductError, match="product 2024-06-01 not written"):
        write_product(files, layers["soil_moisture"], layers["qa"], layers["uncertainty"], bad)
    assert not files.directory.exists()
    assert list(files.directory.parent.iterdir()) == []  # no staging directory left either


def test_failed_rewrite_keeps_the_previous_product(tmp_path: Path, region: Region, layers) -> None:
    files = _write(tmp_path, region, layers)
    before = {p.name: p.read_bytes() for p in files.provenance.parent.iterdir()}
    bad = _info(region, threshold=object())
    with pytest.raises(ProductError):
        write_product(files, layers["soil_moisture"] * 0.5, layers["qa"], layers["uncertainty"], bad)
    after = {p.name: p.read_bytes() for p in files.provenance.parent.iterdir()}
    assert after == before
    assert [p.name for p in files.directory.parent.iterdir()] == ["01"]


def test_staged_block_that_raises_replaces_nothing(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), staged([target, tmp_path / "y.bin"]) as temp:
        temp[target].write_bytes(b"new but only ha")
        raise RuntimeError("disk went away")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_missing_pixels_get_no_retrieval_and_no_uncertainty(region: Region) -> None:
    sm = np.full(region.fine.shape, 0.2)
    sm[3, 4] = np.nan
    arrays = prepare_arrays(region, sm, np.zeros(region.fine.shape, np.uint8), np.full(sm.shape, 0.02))
    assert arrays.qa[3, 4] == QA.NO_RETRIEVAL
    assert np.isnan(arrays.uncertainty[3, 4])
    assert np.count_nonzero(arrays.qa) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"soil_moisture": np.zeros((3, 3))}, "shape"),
        ({"soil_moisture": "negative"}, "outside"),
        ({"uncertainty": "negative"}, "uncertainty"),
        ({"qa": "nodata"}, "qa"),
    ],
)
def test_bad_layers_are_refused(region: Region, change: dict, message: str) -> None:
    shape = region.fine.shape
    layers = {
        "soil_moisture": np.full(shape, 0.2),
        "qa": np.zeros(shape, np.uint8),
        "uncertainty": np.ones(shape),
    }
    for key, value in change.items():
        if isinstance(value, str):
            value = layers[key].copy()
            value[0, 0] = QA_NODATA if key == "qa" else -0.1
        layers[key] = value
    with pytest.raises(ProductError, match=message):
        prepare_arrays(region, layers["soil_moisture"], layers["qa"], layers["uncertainty"])


def test_problems_name_a_tampered_or_missing_file(tmp_path: Path, region: Region, layers) -> None:
    files = _write(tmp_path, region, layers)
    files.thumbnail.write_bytes(files.thumbnail.read_bytes() + b"\0")
    assert product_problems(files, region) == ["thumbnail: checksum differs from the provenance record"]
    files.qa.unlink()
    assert product_problems(files, region)[0].startswith("missing: ")


def test_problems_name_a_product_on_another_grid(written: ProductFiles) -> None:
    other = region_from_bbox((-99.0, 34.0, -93.0, 39.0))
    problems = product_problems(written, other)
    assert any("transform" in p for p in problems)
    assert any("shape" in p for p in problems)
