"""The pure parts of ``catalog.serve``: which paths are published, and the API landing page's
identity (the servers themselves are tested over sockets in ``tests/integration``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog.collection import root_catalog
from catalog.serve import is_published, landing_identity, with_identity


@pytest.mark.parametrize(
    "path",
    [
        "/catalog/catalog.json",
        "/products/2024/06/01/smprod_sm_1km_20240601_soil_moisture.tif",
        "/catalog/browse/",
        "/",
        "smprod-sm-1km/2024/smprod-sm-1km-20240601.json",
        "/products/2024/06/01/report.parts.txt",  # "part" inside a name is not a temporary suffix
    ],
)
def test_published_paths(path: str) -> None:
    assert is_published(path)


@pytest.mark.parametrize(
    "path",
    [
        "/catalog/.collection.lock",
        "/catalog/../stack/secret.txt",
        "/catalog/./catalog.json",
        "/catalog/.hidden/item.json",
        "/products/2024/06/01/.smprod_sm_1km_20240601_qa.tif.x1y2z3.part",
        "/products/2024/06/01/smprod_sm_1km_20240601_qa.tif.part",
        "/products/2024/06/01/a.tif.partial",
        "/catalog/catalog.json.tmp",
        "/catalog/catalog.json.tmp12345",
        "/catalog/thing.lock",
        "/products/upload.PART/a.tif",  # a temporary directory hides what is in it
        "smprod-sm-1km/.item.json.tmp99",
    ],
)
def test_unpublished_paths(path: str) -> None:
    assert not is_published(path)


def test_landing_identity_is_the_catalogs_own(tmp_path: Path) -> None:
    written = {**root_catalog(), "title": "Oklahoma soil moisture", "description": "Test catalog."}
    (tmp_path / "catalog.json").write_text(json.dumps(written))
    assert landing_identity(tmp_path) == {
        "id": "smprod",
        "title": "Oklahoma soil moisture",
        "description": "Test catalog.",
    }


@pytest.mark.parametrize("content", [None, "{not json", "[1, 2]", '{"title": ""}'])
def test_landing_identity_falls_back_to_what_smprod_writes(tmp_path: Path, content: str | None) -> None:
    if content is not None:
        (tmp_path / "catalog.json").write_text(content)
    default = root_catalog()
    assert landing_identity(tmp_path) == {key: default[key] for key in ("id", "title", "description")}


def test_with_identity_replaces_only_the_identity() -> None:
    landing = {"type": "Catalog", "id": "stac-server-rs", "description": "A STAC API server written in Rust"}
    landing["links"] = [{"rel": "self", "href": "http://127.0.0.1:7822/"}]
    identity = {"id": "smprod", "title": "smprod products", "description": "Products of smprod."}
    rewritten = json.loads(with_identity(json.dumps(landing).encode(), identity))
    assert rewritten == {**landing, **identity}


@pytest.mark.parametrize("body", [b"", b"not json", b"[1]", b"\xff\xfe"])
def test_with_identity_leaves_anything_but_a_json_object_alone(body: bytes) -> None:
    assert with_identity(body, {"title": "x"}) == body
