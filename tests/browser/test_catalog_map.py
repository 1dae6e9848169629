"""The browse page's map in headless Chromium: tiles of the published COGs on the fixed colour
scale, the QA layer, the day slider and click-for-value, judged on the screenshot's PIXELS and on
the values the page shows against the COGs read with rasterio.

The map has no basemap, so every pixel inside the item's footprint that is not the background is
a tile pixel: soil moisture must be viridis colours of the thumbnails' scale, the QA layer the QA
palette (with the no_retrieval red of the test days' missing corner), and another day other
colours. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.warp import transform

from catalog.tiles import QA_COLOURS, QA_NO_FLAG
from smprod.layout import WorkLayout
from smprod.product import thumbnail
from smprod.qa import QA, flag_names
from tests.browser.conftest import free_port
from tests.catalog_days import publish_days, start_serve, stop_serve, tiny_region

pytestmark = pytest.mark.browser
DAYS = [date(2024, 6, 1) + timedelta(days=i) for i in range(3)]
IDS = [f"smprod-sm-1km-{d:%Y%m%d}" for d in DAYS]
TIMEOUT = 30_000


def _hex(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])


def _shot(page: Any) -> np.ndarray:
    """RGB pixels of the map element as drawn."""
    return np.asarray(Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("RGB")).astype(int)


def _footprint(page: Any) -> tuple[int, int, int, int]:
    """The item's footprint outline in map pixels (left, top, right, bottom), 3 px inside."""
    box = page.locator("#map .leaflet-overlay-pane path").bounding_box()
    origin = page.locator("#map").bounding_box()
    left, top = round(box["x"] - origin["x"]), round(box["y"] - origin["y"])
    return left + 3, top + 3, left + round(box["width"]) - 3, top + round(box["height"]) - 3


def _near(pixels: np.ndarray, palette: np.ndarray, tolerance: int = 3) -> np.ndarray:
    """Whether each pixel (..., 3) is within ``tolerance`` of a colour of ``palette`` (n, 3)."""
    flat = pixels.reshape(-1, 3)
    colours, inverse = np.unique(flat, axis=0, return_inverse=True)
    distance = np.abs(colours[:, None, :] - palette[None, :, :]).max(axis=-1).min(axis=1)
    return (distance <= tolerance)[inverse.ravel()].reshape(pixels.shape[:-1])


def _wait_tiles(page: Any, asset: str, item_id: str) -> None:
    page.wait_for_selector(f'#map[data-tiles="{asset}:{item_id}"]', timeout=TIMEOUT)
    page.wait_for_timeout(200)  # let the compositor paint the loaded tiles


def _uniform_spot(pixels: np.ndarray, area: tuple[int, int, int, int]) -> tuple[int, int]:
    """A map pixel whose 3 x 3 neighbourhood has one colour (inside one 1 km pixel, about 4 map
    pixels wide at the fitted zoom, away from its edges)."""
    left, top, right, bottom = area
    for row in range(top + 20, bottom - 20, 2):
        for col in range(left + 20, right - 20, 2):
            block = pixels[row - 1 : row + 2, col - 1 : col + 2].reshape(-1, 3)
            if (block == block[0]).all() and _near(block[:1], thumbnail.lookup_table()[:, :3].astype(int))[0]:
                return col, row
    raise AssertionError("no uniform data pixel on the map")


def _cog_values(workdir: Path, day: date, lon: float, lat: float) -> dict[str, float]:
    values = {}
    for asset, path in WorkLayout(workdir).product_files(day).cogs().items():
        with rasterio.open(path) as src:
            (x,), (y,) = transform("EPSG:4326", src.crs, [lon], [lat])
            row, col = src.index(x, y)
            values[asset] = float(src.read(1)[row, col])
    return values


def _check_point_panel(page: Any, workdir: Path, day: date, item_id: str) -> dict[str, float]:
    panel = page.locator(f'#point-value[data-item-id="{item_id}"]')
    panel.wait_for(timeout=TIMEOUT)
    lon, lat = (
        float(panel.get_attribute("data-lon") or "nan"),
        float(panel.get_attribute("data-lat") or "nan"),
    )
    expected = _cog_values(workdir, day, lon, lat)
    rows = {
        name: page.inner_text(f'#point-value tr[data-row="{name}"] td')
        for name in ("day", "soil moisture", "uncertainty", "QA flags")
    }
    assert rows["day"] == f"{day:%Y-%m-%d}"
    assert rows["soil moisture"] == f"{expected['soil_moisture']:.4f} m³/m³", (rows, expected)
    assert rows["uncertainty"] == f"{expected['uncertainty']:.4f} m³/m³", (rows, expected)
    assert float(panel.get_attribute("data-soil-moisture") or "nan") == pytest.approx(
        expected["soil_moisture"], abs=1e-7
    )
    names = ", ".join(flag_names(int(expected["qa"]))) or "none"
    assert rows["QA flags"] == f"{names} (QA {int(expected['qa'])})"
    return expected


def test_map_shows_the_days_tiles_layers_slider_and_values(
    browser, tmp_path: Path, artifacts_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    publish_days(tmp_path, DAYS, tiny_region())
    process, urls = start_serve(tmp_path, free_port(), free_port())
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    viridis = thumbnail.lookup_table()[:, :3].astype(int)
    try:
        page.goto(urls["Browse"])
        page.wait_for_selector("body[data-loaded]", timeout=TIMEOUT)
        assert page.get_attribute("body", "data-loaded") == "true", page.inner_text("#status")
        _wait_tiles(page, "soil_moisture", IDS[-1])  # the newest day first
        assert page.inner_text("#day-label") == f"{DAYS[-1]:%Y-%m-%d}"
        newest = _shot(page)
        page.locator("#map").screenshot(path=str(artifacts_dir / "catalog-map-soil-moisture.png"))
        left, top, right, bottom = area = _footprint(page)
        inside = newest[top:bottom, left:right]
        assert inside.shape[0] > 100 and inside.shape[1] > 100, area
        assert _near(inside, viridis).mean() > 0.95  # data everywhere but the missing corner
        assert len(np.unique(inside.reshape(-1, 3), axis=0)) > 50  # a field, not one colour
        outside = np.concatenate(
            [newest[:, : left - 10].reshape(-1, 3), newest[:, right + 10 :].reshape(-1, 3)]
        )
        assert _near(outside, viridis, 0).mean() < 0.01  # no data drawn off the item
        legend = page.inner_text("#legend")
        assert "Soil moisture (m³/m³)" in legend and "0.5" in legend and "0.25" in legend
        box_js = "(s) => [s.textContent, s.getBoundingClientRect().left, s.getBoundingClientRect().right]"
        ticks = page.eval_on_selector_all("#legend .ticks span", f"spans => spans.map({box_js})")
        assert [tick[0] for tick in ticks] == ["0", "0.25", "0.5"]
        assert all(ticks[i][2] < ticks[i + 1][1] for i in range(2)), ticks  # labels apart, none squashed

        # click for value: the shown values are the COGs', and the pixel's colour is the scale's
        col, row = _uniform_spot(newest, area)
        box = page.locator("#map").bounding_box()
        page.mouse.click(box["x"] + col + 0.5, box["y"] + row + 0.5)
        values = _check_point_panel(page, tmp_path, DAYS[-1], IDS[-1])
        drawn = thumbnail.colourise(np.array([values["soil_moisture"]]))[0, :3].astype(int)
        assert np.abs(newest[row, col] - drawn).max() <= 3, (newest[row, col], drawn)

        # the QA layer: other pixels, the QA palette, the missing corner in no_retrieval red
        page.get_by_text("QA flags", exact=True).first.click()
        _wait_tiles(page, "qa", IDS[-1])
        qa = _shot(page)
        page.locator("#map").screenshot(path=str(artifacts_dir / "catalog-map-qa.png"))
        qa_inside = qa[top:bottom, left:right]
        assert (np.abs(qa_inside - inside).max(axis=-1) > 10).mean() > 0.9
        assert (np.abs(qa_inside - _hex(QA_NO_FLAG)).max(axis=-1) <= 3).mean() > 0.9
        red = np.abs(qa_inside - _hex(QA_COLOURS[QA.NO_RETRIEVAL.value])).max(axis=-1) <= 3
        assert red[:60, :60].sum() > 50, red.sum()  # the top-left corner without retrieval
        assert "no_retrieval [bit 7]" in page.inner_text("#legend")

        # back to soil moisture and to the first day: other values, same scale
        page.get_by_text("Soil moisture", exact=True).first.click()
        _wait_tiles(page, "soil_moisture", IDS[-1])
        page.locator("#day-slider").fill("0")
        _wait_tiles(page, "soil_moisture", IDS[0])
        assert page.inner_text("#day-label") == f"{DAYS[0]:%Y-%m-%d}"
        first = _shot(page)[top:bottom, left:right]
        assert _near(first, viridis).mean() > 0.95
        assert (np.abs(first - inside).max(axis=-1) > 10).mean() > 0.5  # another day's field
        _check_point_panel(page, tmp_path, DAYS[0], IDS[0])  # the clicked point, re-read for the day
        page.screenshot(path=str(artifacts_dir / "catalog-map.png"))
    finally:
        page.close()
        assert stop_serve(process) == 0


def test_item_panel_shows_assets_qa_legend_provenance_and_model(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    publish_days(tmp_path, DAYS[:1], tiny_region())
    process, urls = start_serve(tmp_path, free_port(), free_port())
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        page.goto(urls["Browse"])
        page.wait_for_selector("body[data-loaded]", timeout=TIMEOUT)
        page.locator(f'article.item[data-item-id="{IDS[0]}"] button.item-details').click()
        panel = page.locator(f'#item-panel .panel[data-item-id="{IDS[0]}"]')
        panel.locator("table.provenance").wait_for(timeout=TIMEOUT)
        text = panel.inner_text()
        assert "SMAP_L3_SM_P_20240601_R19240_001.h5" in text  # the provenance record's inputs
        assert "smprod-downscaler v1 (random_forest, near-real-time, run run000001)" in text
        assert "models:/smprod-downscaler/1" in text
        flags = panel.locator(".legend.categorical li")
        assert [flags.nth(i).get_attribute("data-flag") for i in range(flags.count())] == [
            "no flag",
            *(flag_names(flag.value)[0] for flag in QA),  # type: ignore[attr-defined]
        ]
        assets = panel.locator("a[data-asset]")
        assert assets.count() == 5
        for i in range(assets.count()):
            assert page.request.get(assets.nth(i).get_attribute("href") or "").status == 200
        raw = panel.locator("a.item-json").get_attribute("href") or ""
        assert page.request.get(raw).json()["id"] == IDS[0]
    finally:
        page.close()
        assert stop_serve(process) == 0
