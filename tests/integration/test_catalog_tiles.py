"""Map tiles, legends and point values of the published COGs (``catalog/tiles.py``), through the
file server's app (``catalog.serve.files_app`` mounts them at ``/tiles``).

Expected tiles are computed independently: the COG reprojected by rasterio onto the tile's Web
Mercator grid (nearest neighbour) and coloured by the thumbnails' scale. A tile that does not
touch the item is a 404 (documented in ``catalog/tiles.py``).
"""

from __future__ import annotations

import io
import json
import os
from datetime import date
from pathlib import Path

import morecantile
import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_bounds
from rasterio.warp import Resampling, reproject, transform
from starlette.testclient import TestClient

from catalog.serve import files_app
from catalog.tiles import QA_COLOURS, QA_NO_FLAG, UNCERTAINTY_SCALE
from smprod.layout import WorkLayout
from smprod.product import thumbnail
from smprod.qa import QA, flag_names
from tests.catalog_days import publish_days, tiny_region

DAY = date(2024, 6, 1)
ITEM = f"smprod-sm-1km-{DAY:%Y%m%d}"
TMS = morecantile.tms.get("WebMercatorQuad")
#: Zoom 10: about 150 m per tile pixel, so each 1 km pixel covers several tile pixels.
ZOOM = 10


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("tiles")
    publish_days(work, [DAY], tiny_region())
    return work


@pytest.fixture(scope="module")
def client(workdir: Path) -> TestClient:
    return TestClient(files_app(workdir / "catalog"))


def _cog(workdir: Path, asset: str) -> Path:
    return WorkLayout(workdir).product_files(DAY).cogs()[asset]


def _png(client: TestClient, url: str) -> np.ndarray:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.text)
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (256, 256) and image.mode == "RGBA"
    return np.asarray(image)


def _reprojected(path: Path, tile: morecantile.Tile) -> tuple[np.ndarray, np.ndarray]:
    """The COG's band on the tile's 256 x 256 Web Mercator grid (nearest) and where it has data."""
    bounds = TMS.xy_bounds(tile)
    dst_transform = from_bounds(bounds.left, bounds.bottom, bounds.right, bounds.top, 256, 256)
    with rasterio.open(path) as src:
        band = src.read(1)
        nodata = src.nodata
        out = np.full((256, 256), np.nan if band.dtype.kind == "f" else 255, dtype=band.dtype)
        covered = np.zeros((256, 256), dtype=np.uint8)
        grids = {"src_transform": src.transform, "src_crs": src.crs}
        grids.update(dst_transform=dst_transform, dst_crs="EPSG:3857", resampling=Resampling.nearest)
        reproject(band, out, src_nodata=nodata, dst_nodata=nodata, **grids)
        reproject(np.ones_like(band, dtype=np.uint8), covered, dst_nodata=0, **grids)
    valid = covered.astype(bool) & (np.isfinite(out) if out.dtype.kind == "f" else out != 255)
    return out, valid


def _data_tiles(workdir: Path) -> list[morecantile.Tile]:
    item = json.loads((workdir / "catalog" / "smprod-sm-1km" / ITEM / f"{ITEM}.json").read_text())
    return list(TMS.tiles(*item["bbox"], [ZOOM]))


def _colours(rgba: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(int(v) for v in pixel) for pixel in rgba[rgba[..., 3] > 0][:, :3]}


@pytest.mark.parametrize("asset", ["soil_moisture", "uncertainty"])
def test_a_tile_is_the_cog_reprojected_and_coloured_on_the_fixed_scale(
    client: TestClient, workdir: Path, asset: str
) -> None:
    scale = {"soil_moisture": (thumbnail.VMIN, thumbnail.VMAX, thumbnail.COLORMAP)}.get(
        asset, (UNCERTAINTY_SCALE["min"], UNCERTAINTY_SCALE["max"], UNCERTAINTY_SCALE["colormap"])
    )
    checked = 0
    for tile in _data_tiles(workdir):
        rgba = _png(client, f"/tiles/{ITEM}/{asset}/{tile.z}/{tile.x}/{tile.y}.png")
        values, valid = _reprojected(_cog(workdir, asset), tile)
        expected = thumbnail.colourise(np.where(valid, values, np.nan), *scale)
        shown = (rgba[..., 3] > 0) | valid  # agreement over the pixels with data, not the empty ones
        same = np.all(rgba == expected, axis=-1)[shown]
        assert same.mean() > 0.99, (tile, same.mean())  # nearest neighbour: edges may round apart
        assert ((rgba[..., 3] == 0) == ~valid).mean() > 0.995  # nodata and off the grid: transparent
        assert set(np.unique(rgba[..., 3])) <= {0, 255}
        assert _colours(rgba) <= {tuple(int(v) for v in c[:3]) for c in thumbnail.lookup_table(scale[2])}
        checked += int(valid.sum())
    assert checked > 5000  # the tiles did hold data


def test_the_missing_corner_is_transparent_and_flagged_no_retrieval(
    client: TestClient, workdir: Path
) -> None:
    """The test days have no soil moisture in the grid's top-left 5 x 7 pixels (QA no_retrieval)."""
    with rasterio.open(_cog(workdir, "soil_moisture")) as src:
        x, y = src.xy(2, 3)  # inside the missing corner
        assert np.isnan(src.read(1)[2, 3])
        crs = src.crs
    (lon,), (lat,) = transform(crs, "EPSG:4326", [x], [y])
    tile = TMS.tile(lon, lat, ZOOM)
    mx, my = TMS.xy(lon, lat)
    bounds = TMS.xy_bounds(tile)
    col = int((mx - bounds.left) / (bounds.right - bounds.left) * 256)
    row = int((bounds.top - my) / (bounds.top - bounds.bottom) * 256)
    sm = _png(client, f"/tiles/{ITEM}/soil_moisture/{tile.z}/{tile.x}/{tile.y}.png")
    qa = _png(client, f"/tiles/{ITEM}/qa/{tile.z}/{tile.x}/{tile.y}.png")
    assert sm[row, col, 3] == 0
    red = tuple(int(QA_COLOURS[QA.NO_RETRIEVAL.value][i : i + 2], 16) for i in (1, 3, 5))
    assert tuple(qa[row, col]) == (*red, 255)


def test_qa_tiles_use_one_colour_per_flag(client: TestClient, workdir: Path) -> None:
    palette = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in [QA_NO_FLAG, *QA_COLOURS.values()]}
    seen: set[tuple[int, ...]] = set()
    for tile in _data_tiles(workdir):
        rgba = _png(client, f"/tiles/{ITEM}/qa/{tile.z}/{tile.x}/{tile.y}.png")
        values, valid = _reprojected(_cog(workdir, "qa"), tile)
        assert ((rgba[..., 3] == 0) == ~valid).mean() > 0.995
        seen |= _colours(rgba)
        no_flag = valid & (values == 0)
        assert (
            np.all(rgba[no_flag][:, :3] == [int(QA_NO_FLAG[i : i + 2], 16) for i in (1, 3, 5)], axis=-1)
        ).mean() > 0.99
    assert seen <= palette and len(seen) >= 2, seen  # no flag, no_retrieval and value_clipped at least


def test_tiles_outside_the_item_and_bad_requests_are_404(client: TestClient) -> None:
    far = TMS.tile(10.0, 50.0, ZOOM)  # Europe
    for url in (
        f"/tiles/{ITEM}/soil_moisture/{far.z}/{far.x}/{far.y}.png",
        f"/tiles/{ITEM}/soil_moisture/0/1/0.png",  # x beyond the zoom
        f"/tiles/{ITEM}/soil_moisture/30/0/0.png",  # beyond MAX_ZOOM
        f"/tiles/{ITEM}/soil_moisture/a/0/0.png",
        f"/tiles/{ITEM}/thumbnail/10/0/0.png",  # not a COG asset
        f"/tiles/{ITEM}/provenance/10/0/0.png",
        "/tiles/smprod-sm-1km-20240699/soil_moisture/10/0/0.png",  # no such item
        "/tiles/legend/thumbnail.json",
    ):
        assert client.get(url).status_code == 404, url


def _publish_altered(workdir: Path, item_id: str, href: str) -> None:
    """An item in the catalog whose soil-moisture href is ``href`` (relative to the item)."""
    source = workdir / "catalog" / "smprod-sm-1km" / ITEM / f"{ITEM}.json"
    item = json.loads(source.read_text())
    item["id"] = item_id
    item["assets"]["soil_moisture"]["href"] = href
    target = workdir / "catalog" / "smprod-sm-1km" / item_id / f"{item_id}.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(item))


def test_only_published_files_are_tiled(tmp_path: Path) -> None:
    publish_days(tmp_path, [DAY], tiny_region())
    cog = _cog(tmp_path, "soil_moisture")
    day_dir = cog.parent
    hidden = day_dir / f".{cog.name}.k3x9q1.part"  # a writer's temporary
    partial = day_dir / f"{cog.name}.part"
    for copy in (hidden, partial, tmp_path / "secret.tif"):
        copy.write_bytes(cog.read_bytes())
    (day_dir / "link.tif").symlink_to(hidden)
    cases = {
        "smprod-sm-1km-20240702": os.path.relpath(hidden, tmp_path / "catalog" / "smprod-sm-1km" / "x"),
        "smprod-sm-1km-20240703": os.path.relpath(partial, tmp_path / "catalog" / "smprod-sm-1km" / "x"),
        "smprod-sm-1km-20240704": "../../../secret.tif",  # beside the catalog, not a product
        "smprod-sm-1km-20240705": os.path.relpath(
            day_dir / "link.tif", tmp_path / "catalog" / "smprod-sm-1km" / "x"
        ),
        "smprod-sm-1km-20240706": "../../../products/2024/06/01/missing.tif",
    }
    for item_id, href in cases.items():
        _publish_altered(tmp_path, item_id, href)
    client = TestClient(files_app(tmp_path / "catalog"))
    tile = _data_tiles(tmp_path)[0]
    path = f"soil_moisture/{tile.z}/{tile.x}/{tile.y}.png"
    assert client.get(f"/tiles/{ITEM}/{path}").status_code == 200  # the published one is served
    for item_id in cases:
        assert client.get(f"/tiles/{item_id}/{path}").status_code == 404, item_id
        assert client.get(f"/tiles/point/{item_id}?lon=-97.4&lat=35.2").status_code == 404, item_id
    # a produced day without a published item is not served either
    publish_days(tmp_path / "other", [DAY], tiny_region())
    (tmp_path / "other" / "catalog" / "smprod-sm-1km" / ITEM / f"{ITEM}.json").unlink()
    other = TestClient(files_app(tmp_path / "other" / "catalog"))
    assert other.get(f"/tiles/{ITEM}/{path}").status_code == 404


def test_tiles_revalidate_by_etag(client: TestClient, workdir: Path) -> None:
    tile = _data_tiles(workdir)[0]
    url = f"/tiles/{ITEM}/soil_moisture/{tile.z}/{tile.x}/{tile.y}.png"
    first = client.get(url)
    assert first.headers["cache-control"] == "no-cache"
    again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_the_legends_state_the_fixed_scales(client: TestClient) -> None:
    sm = client.get("/tiles/legend/soil_moisture.json").json()
    assert (sm["min"], sm["max"], sm["colormap"], sm["units"]) == (0.0, 0.5, "viridis", "m3/m3")
    lut = thumbnail.lookup_table()
    assert sm["stops"][0] == "#{:02x}{:02x}{:02x}".format(*lut[0][:3])
    assert sm["stops"][-1] == "#{:02x}{:02x}{:02x}".format(*lut[255][:3])
    sigma = client.get("/tiles/legend/uncertainty.json").json()
    assert (sigma["min"], sigma["max"], sigma["colormap"]) == (0.0, 0.1, "magma")
    qa = client.get("/tiles/legend/qa.json").json()
    names = [category["name"] for category in qa["categories"]]
    assert names == ["no flag", *(flag_names(flag.value)[0] for flag in QA)]  # type: ignore[attr-defined]
    assert len({category["colour"] for category in qa["categories"]}) == len(names)


def test_point_values_are_the_cogs_pixel(client: TestClient, workdir: Path) -> None:
    with rasterio.open(_cog(workdir, "soil_moisture")) as src:
        x, y = src.xy(40, 17)
        crs = src.crs
    (lon,), (lat,) = transform(crs, "EPSG:4326", [x], [y])
    answer = client.get(f"/tiles/point/{ITEM}?lon={lon}&lat={lat}").json()
    assert answer["inside"] is True
    for asset in ("soil_moisture", "uncertainty"):
        with rasterio.open(_cog(workdir, asset)) as src:
            assert answer[asset] == pytest.approx(float(src.read(1)[40, 17]), abs=1e-7)
    with rasterio.open(_cog(workdir, "qa")) as src:
        qa = int(src.read(1)[40, 17])
    assert answer["qa"] == qa and answer["qa_flags"] == list(flag_names(qa))
    outside = client.get(f"/tiles/point/{ITEM}?lon=10&lat=50").json()
    assert outside["inside"] is False and outside["soil_moisture"] is None and outside["qa_flags"] == []
    assert client.get(f"/tiles/point/{ITEM}?lon=abc&lat=1").status_code == 400
    assert client.get(f"/tiles/point/{ITEM}?lon=200&lat=1").status_code == 400
