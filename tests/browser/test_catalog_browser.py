"""The catalog's browse page, served by ``smprod catalog serve`` and opened in headless Chromium:
every day listed with its thumbnail loaded, model version, QA fractions and asset links."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.browser.conftest import free_port
from tests.catalog_days import publish_days, start_serve, stop_serve, tiny_region, write_day

pytestmark = pytest.mark.browser
DAYS = [date(2024, 6, 1) + timedelta(days=i) for i in range(3)]


def test_browse_page_lists_items_with_thumbnails(browser, tmp_path: Path, artifacts_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from catalog.publish import publish_day
    from smprod.layout import WorkLayout

    region = tiny_region()
    publish_days(tmp_path, DAYS, region)
    write_day(tmp_path, DAYS[-1], region, model_version="2", precip_run="Final")  # reprocessed day
    publish_day(WorkLayout(tmp_path), region, DAYS[-1])
    process, urls = start_serve(tmp_path, free_port(), free_port())
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    try:
        page.goto(urls["Browse"])
        page.wait_for_selector("body[data-loaded]", timeout=30_000)
        assert page.get_attribute("body", "data-loaded") == "true", page.inner_text("#status")
        assert page.inner_text("#status") == f"{len(DAYS)} item(s)"
        cards = page.locator("article.item")
        assert cards.count() == len(DAYS)
        ids = [cards.nth(i).get_attribute("data-item-id") for i in range(cards.count())]
        assert ids == [f"smprod-sm-1km-{d:%Y%m%d}" for d in reversed(DAYS)]  # newest first
        page.wait_for_function("[...document.images].every((img) => img.complete)", timeout=30_000)
        widths = page.eval_on_selector_all("img.thumbnail", "imgs => imgs.map((img) => img.naturalWidth)")
        assert len(widths) == len(DAYS) and all(width > 0 for width in widths), widths
        shown = page.eval_on_selector_all("img.thumbnail", "imgs => imgs.map((img) => img.clientWidth)")
        assert shown == widths  # at their own size, never stretched: the colour-bar labels stay legible
        newest = cards.nth(0).inner_text()
        assert "smprod-downscaler v2" in newest and "reprocessed: model 1 -> 2, IMERG Late -> Final" in newest
        assert "QA no_retrieval" in newest
        assets = cards.nth(0).locator("a[data-asset]")
        assert [assets.nth(i).get_attribute("data-asset") for i in range(assets.count())] == [
            "provenance",
            "qa",
            "soil_moisture",
            "thumbnail",
            "uncertainty",
        ]
        for i in range(assets.count()):  # every asset link leads to the file
            response = page.request.get(assets.nth(i).get_attribute("href") or "")
            assert response.status == 200, assets.nth(i).get_attribute("href")
        page.screenshot(path=str(artifacts_dir / "catalog-browse.png"), full_page=True)
    finally:
        page.close()
        assert stop_serve(process) == 0
