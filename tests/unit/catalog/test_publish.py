"""Publishing days: what an item says (from the real product files), revisions when a day is
made again, and a collection whose links, extent and summaries follow every item."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
from numpy.testing import assert_allclose

from catalog.items import EXTENSIONS, model_links
from catalog.publish import item_for_day, publish_day
from catalog.validate import validate_catalog
from smprod.errors import CatalogError
from smprod.layout import PRODUCT_ID, WorkLayout
from tests.catalog_days import tiny_region, write_day

DAY = date(2024, 6, 1)
REGION = tiny_region()


def _publish(layout: WorkLayout, day: date = DAY, tracking_uri: str | None = None, **kw: str) -> dict:
    write_day(layout.root, day, REGION, **kw)
    return json.loads(publish_day(layout, REGION, day, tracking_uri).read_text())


def _collection(layout: WorkLayout) -> dict:
    return json.loads((layout.catalog / PRODUCT_ID / "collection.json").read_text())


@pytest.fixture
def layout(tmp_path: Path) -> WorkLayout:
    return WorkLayout(tmp_path)


def test_item_describes_the_day_from_its_files(layout: WorkLayout) -> None:
    item = _publish(layout, tracking_uri="http://mlflow.example:5000/")
    files = layout.product_files(DAY)
    record = json.loads(files.provenance.read_text())
    props = item["properties"]
    assert item["id"] == "smprod-sm-1km-20240601" and item["stac_extensions"] == EXTENSIONS
    assert (props["start_datetime"], props["datetime"], props["end_datetime"]) == (
        "2024-06-01T00:00:00Z",
        "2024-06-01T12:00:00Z",
        "2024-06-01T23:59:59Z",
    )
    assert props["smprod:model_version"] == "1" and props["smprod:precip_run"] == "Late"
    assert (
        props["smprod:smap_release"] == "R19240_001"
        and props["smprod:qa_fractions"] == record["qa_fractions"]
    )
    assert props["proj:code"] == "EPSG:6933" and props["proj:shape"] == [72, 72]
    assert_allclose(props["gsd"], 1000.89502334956)
    with rasterio.open(files.soil_moisture) as src:
        values = src.read(1)
        assert props["proj:transform"] == list(src.transform)[:6]
    stats = item["assets"]["soil_moisture"]["raster:bands"][0]["statistics"]
    valid = values[np.isfinite(values)].astype(np.float64)
    assert_allclose(
        [stats["mean"], stats["stddev"], stats["minimum"], stats["maximum"], stats["valid_percent"]],
        [valid.mean(), valid.std(), valid.min(), valid.max(), 100 * valid.size / values.size],
        atol=1e-6,
    )
    for key, asset in record["assets"].items():
        assert item["assets"][key]["file:checksum"] == "1220" + asset["sha256"]
        assert item["assets"][key]["file:size"] == asset["size"]
    item_dir = layout.catalog / PRODUCT_ID / item["id"]
    assert all(
        (item_dir / a["href"]).resolve() == getattr(files, k).resolve() for k, a in item["assets"].items()
    )
    vias = [link["href"] for link in item["links"] if link["rel"] == "via"]
    assert vias == [
        "models:/smprod-downscaler/1",
        "http://mlflow.example:5000/#/models/smprod-downscaler/versions/1",
    ]
    assert validate_catalog(layout.catalog).ok


def test_collection_item_assets_agree_with_the_written_bands(layout: WorkLayout) -> None:
    item = _publish(layout)
    for key, definition in _collection(layout)["item_assets"].items():
        for field in ("type", "roles", "title"):
            assert item["assets"][key][field] == definition[field]
        for static, written in zip(
            definition.get("raster:bands", []), item["assets"][key].get("raster:bands", []), strict=True
        ):
            assert {k: written[k] for k in static} == static


def test_republishing_unchanged_files_gives_the_same_item_bytes(layout: WorkLayout) -> None:
    _publish(layout)
    path = layout.catalog / PRODUCT_ID / "smprod-sm-1km-20240601" / "smprod-sm-1km-20240601.json"
    first = path.read_bytes()
    _publish(layout)  # the producer rewrites byte-identical files (new mtime)
    publish_day(layout, REGION, DAY)
    assert path.read_bytes() == first
    assert json.loads(first)["properties"]["smprod:revision"] == 1


def test_a_reprocessed_day_says_so(layout: WorkLayout) -> None:
    first = _publish(layout)
    second = _publish(layout, model_version="2", precip_run="Final")
    props = second["properties"]
    assert props["smprod:revision"] == 2 and props["smprod:reprocessed"] is True
    assert props["smprod:reprocessing"] == ["model 1 -> 2", "IMERG Late -> Final"]
    assert props["created"] == first["properties"]["created"]
    third = _publish(layout, model_version="2", precip_run="Final")  # same again: no new revision
    assert third["properties"]["smprod:revision"] == 2
    fourth = _publish(layout, model_version="2", precip_run="Final", smap_release="R19240_002")
    assert fourth["properties"]["smprod:revision"] == 3
    assert fourth["properties"]["smprod:reprocessing"] == [
        "SMAP release R19240_001 -> R19240_002",
        "input granules changed",
    ]
    items = list(layout.catalog.rglob(f"{PRODUCT_ID}-20240601*.json"))
    assert len(items) == 1  # one item per day, whatever happened
    assert [link["href"] for link in _collection(layout)["links"] if link["rel"] == "item"] == [
        "./smprod-sm-1km-20240601/smprod-sm-1km-20240601.json"
    ]
    assert validate_catalog(layout.catalog).ok


def test_collection_extent_and_summaries_follow_every_item(layout: WorkLayout) -> None:
    _publish(layout, date(2024, 6, 3), model_version="10", precip_run="Early")
    _publish(layout, date(2024, 6, 1), model_version="9")  # published later, earlier day
    collection = _collection(layout)
    assert collection["extent"]["temporal"]["interval"] == [["2024-06-01T00:00:00Z", "2024-06-03T23:59:59Z"]]
    item = json.loads(next(layout.catalog.rglob(f"{PRODUCT_ID}-20240603.json")).read_text())
    assert collection["extent"]["spatial"]["bbox"] == [item["bbox"]]
    summaries = collection["summaries"]
    assert summaries["smprod:model_version"] == ["9", "10"]  # numeric order
    assert summaries["smprod:precip_run"] == ["Early", "Late"]
    assert summaries["proj:code"] == ["EPSG:6933"] and summaries["smprod:coarse_product"] == ["SPL3SMP"]
    assert_allclose(summaries["gsd"], [1000.89502334956])
    fragments = json.loads((Path("catalog") / "fragments" / "collection.json").read_text())
    assert (
        collection["providers"] == fragments["providers"] and collection["keywords"] == fragments["keywords"]
    )
    assert collection["license"] == fragments["license"]
    assert [link["href"] for link in collection["links"] if link["rel"] == "item"] == [
        "./smprod-sm-1km-20240601/smprod-sm-1km-20240601.json",
        "./smprod-sm-1km-20240603/smprod-sm-1km-20240603.json",
    ]
    assert validate_catalog(layout.catalog).ok


def test_an_item_the_collection_missed_is_listed_by_the_next_publish(layout: WorkLayout) -> None:
    _publish(layout, date(2024, 6, 1))
    write_day(layout.root, date(2024, 6, 2), REGION)
    item = item_for_day(layout.product_files(date(2024, 6, 2)), REGION, layout.catalog, None)
    path = layout.catalog / PRODUCT_ID / item.id / f"{item.id}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(item.to_dict(include_self_link=False, transform_hrefs=False)))
    (path.parent / f".{path.name}.tmp999").write_text('{"half')  # a killed writer's leftover
    assert not validate_catalog(layout.catalog).ok
    _publish(layout, date(2024, 6, 1))
    assert validate_catalog(layout.catalog).ok
    publish_day(layout, REGION, date(2024, 6, 2))
    assert not list(path.parent.glob(".*tmp*"))


def test_publishing_a_day_that_was_not_produced_is_refused(layout: WorkLayout) -> None:
    with pytest.raises(CatalogError, match="2024-06-05 cannot be published: soil_moisture, qa"):
        publish_day(layout, REGION, date(2024, 6, 5))


def test_model_links_without_a_tracking_server() -> None:
    record = {"model": {"name": "m", "version": "7"}}
    assert [link["href"] for link in model_links(record, "postgresql+psycopg://x/mlflow")] == ["models:/m/7"]


def test_model_links_never_publish_the_tracking_servers_credentials() -> None:
    record = {"model": {"name": "m", "version": "7"}}
    links = model_links(record, "https://bob:S3cretPW@mlflow.example:5000/?token=t0k")
    assert [link["href"] for link in links] == [
        "models:/m/7",
        "https://mlflow.example:5000/#/models/m/versions/7",
    ]


def test_pystac_reads_the_published_catalog(layout: WorkLayout) -> None:
    import pystac

    for day in (date(2024, 6, 1), date(2024, 6, 2)):
        _publish(layout, day)
    catalog = pystac.Catalog.from_file(str(layout.catalog / "catalog.json"))
    items = sorted(catalog.get_items(recursive=True), key=lambda item: item.id)
    assert [item.id for item in items] == ["smprod-sm-1km-20240601", "smprod-sm-1km-20240602"]
    assert items[0].collection_id == PRODUCT_ID
    assert Path(items[0].assets["soil_moisture"].get_absolute_href() or "").resolve() == (
        layout.product_files(date(2024, 6, 1)).soil_moisture.resolve()
    )


def test_band_statistics_over_many_blocks_equal_numpy(tmp_path: Path) -> None:
    from affine import Affine

    from catalog.items import raster_band
    from smprod.product.read import band_header

    rng = np.random.default_rng(3)
    values = rng.normal(0.25, 0.07, (700, 600)).astype(np.float32)
    values[rng.random(values.shape) < 0.2] = np.nan
    path = tmp_path / "band.tif"
    profile = {"driver": "GTiff", "tiled": True, "blockxsize": 256, "blockysize": 256, "nodata": float("nan")}
    with rasterio.open(
        path, "w", width=600, height=700, count=1, dtype="float32", crs="EPSG:6933",
        transform=Affine(1000.0, 0, 0, 0, -1000.0, 0), **profile,
    ) as dst:  # fmt: skip
        dst.write(values, 1)
    band = raster_band(band_header(path))
    valid = values[np.isfinite(values)].astype(np.float64)
    stats = band["statistics"]
    assert (band["data_type"], band["nodata"], band["spatial_resolution"]) == ("float32", "nan", 1000.0)
    assert_allclose(
        [stats["mean"], stats["stddev"], stats["minimum"], stats["maximum"], stats["valid_percent"]],
        [valid.mean(), valid.std(), valid.min(), valid.max(), 100 * valid.size / values.size],
        atol=1e-6,
    )
