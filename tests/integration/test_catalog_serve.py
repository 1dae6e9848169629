"""``smprod catalog serve``: a STAC API (rustac) over a published catalog, searched with
pystac-client by bbox and datetime range, its landing page titled as the catalog, then stopped
cleanly with SIGTERM."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.browser.conftest import free_port
from tests.catalog_days import TINY_BBOX, publish_days, start_serve, stop_serve, tiny_region

DAYS = [date(2024, 6, 1) + timedelta(days=i) for i in range(4)]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("work")
    publish_days(root, DAYS, tiny_region())
    return root


def _ids(url: str, **search: object) -> list[str]:
    from pystac_client import Client

    return sorted(item.id for item in Client.open(url).search(**search).items())


def test_search_by_bbox_and_datetime_returns_exactly_the_days(workdir: Path) -> None:
    process, urls = start_serve(workdir, free_port(), free_port())
    try:
        api = urls["STAC API"]
        assert api.startswith("http://127.0.0.1:")
        inside = list(TINY_BBOX)
        assert _ids(api, bbox=inside, datetime="2024-06-02T06:00:00Z/2024-06-03T06:00:00Z") == [
            "smprod-sm-1km-20240602",
            "smprod-sm-1km-20240603",
        ]
        assert _ids(api, bbox=inside, datetime="2024-06-04T12:00:00Z") == ["smprod-sm-1km-20240604"]
        assert _ids(api, bbox=inside) == [f"smprod-sm-1km-{d:%Y%m%d}" for d in DAYS]
        assert _ids(api, bbox=[10.0, 45.0, 11.0, 46.0]) == []  # elsewhere
        assert _ids(api, bbox=inside, datetime="2024-07-01/2024-07-31") == []  # another month
        from pystac_client import Client

        item = next(Client.open(api).search(ids=["smprod-sm-1km-20240603"]).items())
        with urllib.request.urlopen(item.assets["thumbnail"].href) as response:  # assets are served
            assert response.read(8) == b"\x89PNG\r\n\x1a\n"
    finally:
        code = stop_serve(process)
    assert code == 0
    for url in (urls["STAC API"], urls["Browse"]):
        with pytest.raises(OSError):
            urllib.request.urlopen(url, timeout=2)  # both servers are gone


def test_api_root_carries_the_catalogs_title_and_description(workdir: Path) -> None:
    from pystac_client import Client

    written = json.loads((workdir / "catalog" / "catalog.json").read_text())
    process, urls = start_serve(workdir, free_port(), free_port())
    try:
        api = urls["STAC API"]
        with urllib.request.urlopen(api) as response:
            body = response.read()
        landing = json.loads(body)
        with urllib.request.urlopen(urllib.request.Request(api, method="HEAD")) as response:
            assert int(response.headers["Content-Length"]) == len(body)  # of the retitled page
        assert {key: landing[key] for key in ("id", "title", "description")} == {
            key: written[key] for key in ("id", "title", "description")
        }
        assert "stac-server-rs" not in json.dumps(landing) and "Rust" not in landing["description"]
        assert {"self", "conformance", "data", "search"} <= {link["rel"] for link in landing["links"]}
        assert all(link["href"].startswith(api) for link in landing["links"])  # the public port only
        assert "https://api.stacspec.org/v1.0.0/item-search" in landing["conformsTo"]
        client = Client.open(api)
        assert (client.id, client.title) == (written["id"], written["title"])
        assert [c.id for c in client.get_collections()] == ["smprod-sm-1km"]
        with pytest.raises(urllib.error.HTTPError) as missing:  # rustac's answers pass through
            urllib.request.urlopen(api + "collections/no-such-collection")
        assert missing.value.code == 404
    finally:
        assert stop_serve(process) == 0


def test_a_day_published_while_serving_is_found(tmp_path: Path) -> None:
    import time

    publish_days(tmp_path, DAYS[:2], tiny_region())
    process, urls = start_serve(tmp_path, free_port(), free_port(), "--reload-seconds", "0.5")
    try:
        inside = list(TINY_BBOX)
        assert _ids(urls["STAC API"], bbox=inside) == ["smprod-sm-1km-20240601", "smprod-sm-1km-20240602"]
        publish_days(tmp_path, DAYS[2:3], tiny_region())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if len(_ids(urls["STAC API"], bbox=inside)) == 3:
                    break
            except Exception:  # the API restarts for a fraction of a second
                pass
            time.sleep(0.5)
        assert _ids(urls["STAC API"], bbox=inside, datetime="2024-06-03T12:00:00Z") == [
            "smprod-sm-1km-20240603"
        ]
    finally:
        assert stop_serve(process) == 0


def test_serve_without_a_catalog_exits_1(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.catalog_days import PROJECT_ROOT

    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    command = [sys.executable, "-m", "flows.cli", "catalog", "serve", "--workdir", str(tmp_path)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "is not a catalog directory" in result.stderr
