"""Offline validation against the vendored STAC schemas: real published days pass, broken ones
are reported with file, JSON path and message, and nothing is ever fetched."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from urllib.parse import urldefrag

import pytest

from catalog.publish import publish_day
from catalog.validate import (
    SCHEMAS,
    CatalogReport,
    Problem,
    object_problems,
    schema_registry,
    validate_catalog,
)
from smprod.errors import CatalogError
from smprod.layout import WorkLayout
from tests.catalog_days import tiny_region, write_day

DAYS = (date(2024, 6, 1), date(2024, 6, 2))


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> WorkLayout:
    """Two real product days published into a catalog (read-only for the tests below)."""
    layout = WorkLayout(tmp_path_factory.mktemp("work"))
    region = tiny_region()
    for day in DAYS:
        write_day(layout.root, day, region)
        publish_day(layout, region, day, tracking_uri="postgresql://mlflow")
    return layout


@pytest.fixture
def item_path(published: WorkLayout, tmp_path: Path) -> Path:
    """A private copy of the published catalog (and products); returns its first item's path."""
    import shutil

    shutil.copytree(published.root, tmp_path / "work")
    return next((tmp_path / "work" / "catalog").rglob("smprod-sm-1km-20240601.json"))


def _edit(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _problems_of(path: Path) -> list[Problem]:
    report = validate_catalog(path.parents[2])
    assert not report.ok
    return list(report.problems)


def test_published_days_validate(published: WorkLayout) -> None:
    report = validate_catalog(published.catalog)
    assert report.problems == ()
    assert report.objects == 1 + 1 + len(DAYS)  # catalog, collection, one item per day


def test_every_vendored_schema_is_indexed_under_its_official_id() -> None:
    index = json.loads((SCHEMAS / "index.json").read_text())["schemas"]
    files = {p.relative_to(SCHEMAS).as_posix() for p in SCHEMAS.rglob("*.json") if p.name != "index.json"}
    assert set(index.values()) == files
    for url, rel in index.items():
        declared = urldefrag(json.loads((SCHEMAS / rel).read_text())["$id"]).url
        # STAC 1.1.0 common.json declares ".../commonjson" (typo upstream); item.json refers to common.json
        assert declared == url or (rel.endswith("common.json") and declared == url.replace(".json", "json"))
        assert schema_registry().contents(url)["$schema"].startswith("http://json-schema.org/draft-07")


@pytest.mark.parametrize(
    ("change", "json_path", "words", "schema"),
    [
        (
            lambda d: d["properties"].update({"proj:code": 6933}),
            "$.properties['proj:code']",
            "not of type",
            "projection",
        ),
        (lambda d: d["properties"].pop("datetime"), "$.properties", "'datetime' is a required", "item-spec"),
        (
            lambda d: d["assets"]["qa"].update({"file:checksum": 1220}),
            "$.assets.qa['file:checksum']",
            "not of type",
            "file",
        ),
        (
            lambda d: d["assets"]["soil_moisture"].update({"raster:bands": []}),
            "$.assets.soil_moisture['raster:bands']",
            "should be non-empty",
            "raster",
        ),
        (
            lambda d: d["properties"].update({"processing:software": {"numpy": 2}}),
            "$.properties['processing:software'].numpy",
            "not of type",
            "processing",
        ),
        (lambda d: d.pop("geometry"), "$", "'geometry' is a required", "item-spec"),
    ],
)
def test_a_broken_item_is_named_with_file_and_field(
    item_path: Path, change, json_path, words, schema
) -> None:  # type: ignore[no-untyped-def]
    _edit(item_path, change)
    problems = _problems_of(item_path)
    assert {p.file for p in problems} == {item_path}
    assert any(p.json_path == json_path and words in p.message and schema in p.schema for p in problems), (
        problems
    )
    assert str(item_path) in str(problems[0]) and problems[0].json_path in str(problems[0])


def test_an_extension_we_do_not_vendor_is_an_error(item_path: Path) -> None:
    _edit(
        item_path,
        lambda d: d["stac_extensions"].append("https://stac-extensions.github.io/eo/v1.1.0/schema.json"),
    )
    (problem,) = _problems_of(item_path)
    assert problem.message.startswith("schema not vendored: https://stac-extensions.github.io/eo/v1.1.0/")
    assert problem.json_path.startswith("$.stac_extensions[")


def test_a_remote_ref_is_reported_never_fetched(item_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def no_network(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("validation tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    # proj:projjson refers to https://proj.org/schemas/v0.7/projjson.schema.json, which is not vendored
    _edit(item_path, lambda d: d["properties"].update({"proj:projjson": {"type": "ProjectedCRS"}}))
    problems = _problems_of(item_path)
    assert any(
        "schema not vendored: https://proj.org/schemas/v0.7/projjson.schema.json" in p.message
        for p in problems
    )


def test_an_unknown_stac_version_is_not_vendored(item_path: Path) -> None:
    _edit(item_path, lambda d: d.update({"stac_version": "1.0.0"}))
    problems = _problems_of(item_path)
    assert problems[0].message.startswith("schema not vendored: https://schemas.stacspec.org/v1.0.0/")


def test_an_item_no_collection_lists_is_reported(item_path: Path) -> None:
    collection = item_path.parents[1] / "collection.json"
    _edit(collection, lambda d: d.update({"links": [x for x in d["links"] if "20240601" not in x["href"]]}))
    (problem,) = _problems_of(item_path)
    assert problem.file == item_path and "not listed by any collection" in problem.message


def test_a_broken_link_is_reported(item_path: Path) -> None:
    (item_path.parents[1] / "smprod-sm-1km-20240602" / "smprod-sm-1km-20240602.json").unlink()
    problems = _problems_of(item_path)
    assert [(p.file.name, p.json_path) for p in problems] == [("collection.json", "$.links[3].href")]
    assert "does not exist" in problems[0].message


def test_non_stac_json_and_temporary_files_are_skipped(item_path: Path) -> None:
    root = item_path.parents[2]
    (root / "notes.json").write_text('{"hello": "world"}')
    (item_path.parent / f".{item_path.name}.tmp123").write_text("{half an ite")
    assert validate_catalog(root).ok


def test_unreadable_json_is_a_problem(item_path: Path) -> None:
    item_path.write_text('{"type": "Feature", ')
    problems = _problems_of(item_path)
    assert problems[0].file == item_path and problems[0].message.startswith("not readable JSON")


def test_one_file_can_be_validated_alone(item_path: Path) -> None:
    report = validate_catalog(item_path)
    assert isinstance(report, CatalogReport) and report.ok and report.objects == 1


def test_object_problems_of_a_non_stac_type() -> None:
    (problem,) = object_problems({"type": "FeatureCollection"}, Path("x.json"))
    assert problem.json_path == "$.type" and "not a STAC" in problem.message


def test_a_missing_path_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        validate_catalog(tmp_path / "nowhere")


def test_a_missing_asset_file_is_reported(item_path: Path) -> None:
    qa = next((item_path.parents[3] / "products").rglob("*20240601_qa.tif"))
    qa.unlink()
    (problem,) = _problems_of(item_path)
    assert problem.json_path == "$.assets.qa.href" and "does not exist" in problem.message


def test_checksums_are_compared_only_when_asked(item_path: Path) -> None:
    sm = next((item_path.parents[3] / "products").rglob("*20240601_soil_moisture.tif"))
    data = bytearray(sm.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes
    sm.write_bytes(bytes(data))
    root = item_path.parents[2]
    assert validate_catalog(root).ok
    (problem,) = validate_catalog(root, checksums=True).problems
    assert problem.json_path == "$.assets.soil_moisture['file:checksum']" and "differs" in problem.message
