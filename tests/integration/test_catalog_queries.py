"""The point and area queries of ``smprod catalog serve``, over HTTP, against what they must equal.

The catalog is served as a user starts it (``smprod catalog serve`` in its own process). A point's
rows must be the rows of :func:`smprod.access.series.point_series` (the function ``smprod series``
prints), field by field, with SMAP from the day's ``coarse.nc`` written here; an area's statistics
must be numpy's over the pixels of the COGs read directly with rasterio, the pixels chosen here
from the files' own transform (cells a bbox intersects; cells whose centre is inside a polygon,
tested with matplotlib's point-in-path in lon/lat). Requests smprod cannot answer are 4xx with a
message naming the problem.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser.conftest import free_port
from tests.catalog_days import publish_days, start_serve, stop_serve, tiny_region

pytestmark = pytest.mark.integration

#: Five days with 2024-06-03 not produced (a missing day inside the series).
DAYS = [date(2024, 6, 1) + timedelta(days=i) for i in range(5) if i != 2]
MISSING = date(2024, 6, 3)
#: A point inside the tiny region, and the percentiles the area answers carry.
POINT = (-97.33, 35.21)
PERCENTILES = (5, 25, 50, 75, 95)
#: A triangle with a square hole, reaching west and north of the region (TINY_BBOX snapped to
#: 2 x 2 cells of 36 km: lon -97.842 .. -97.095, lat 34.820 .. 35.508).
POLYGON = {
    "type": "Polygon",
    "coordinates": [
        [[-98.0, 35.0], [-97.3, 35.1], [-97.5, 35.6], [-98.0, 35.0]],
        [[-97.6, 35.2], [-97.5, 35.2], [-97.5, 35.3], [-97.6, 35.3], [-97.6, 35.2]],
    ],
}


def _coarse_smap(day: date, shape: tuple[int, int]) -> np.ndarray:
    return np.random.default_rng(day.toordinal() + 7).uniform(0.1, 0.4, shape)


def _write_coarse(workdir: Path, day: date) -> None:
    """The day's ``inputs/YYYY/MM/DD/coarse.nc`` with only ``sm`` (what the series reads)."""
    import netCDF4

    from smprod.layout import WorkLayout

    folder = WorkLayout(workdir).inputs_dir(day)
    folder.mkdir(parents=True, exist_ok=True)
    smap = _coarse_smap(day, tiny_region().coarse.shape)
    with netCDF4.Dataset(folder / "coarse.nc", "w") as ds:
        ds.createDimension("y", smap.shape[0])
        ds.createDimension("x", smap.shape[1])
        ds.createVariable("sm", "f4", ("y", "x"))[:] = smap


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    workdir = tmp_path_factory.mktemp("work")
    publish_days(workdir, DAYS, tiny_region())
    for day in DAYS:
        _write_coarse(workdir, day)
    process, urls = start_serve(workdir, free_port(), free_port())
    try:
        yield workdir, urls["STAC API"].rstrip("/")
    finally:
        assert stop_serve(process) == 0


def _get(url: str, body: bytes | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.headers["Content-Type"] == "application/json"
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        assert err.headers["Content-Type"] == "application/json"
        return err.code, json.loads(err.read())


def _same(answer: float | None, expected: float) -> bool:
    return answer is None if math.isnan(expected) else answer == expected


def test_point_rows_are_the_library_series(served: tuple[Path, str]) -> None:
    from smprod.access.series import point_series
    from smprod.layout import WorkLayout

    workdir, api = served
    status, answer = _get(f"{api}/query/point?lon={POINT[0]}&lat={POINT[1]}&start=2024-05-31&end=2024-06-05")
    assert status == 200
    series = point_series(WorkLayout(workdir), tiny_region(), *POINT, date(2024, 5, 31), date(2024, 6, 5))
    assert [row["date"] for row in answer["days"]] == [d.day.isoformat() for d in series.days]
    assert len(answer["days"]) == 6
    for row, day in zip(answer["days"], series.days, strict=True):
        assert row["status"] == day.status
        assert row["qa"] == day.qa and row["qa_flags"] == list(day.qa_flags)
        for field in ("soil_moisture", "uncertainty", "smap", "bilinear_smap"):
            assert _same(row[field], getattr(day, field)), (row["date"], field)
    statuses = {row["date"]: row["status"] for row in answer["days"]}
    assert statuses["2024-05-31"] == statuses[MISSING.isoformat()] == "missing"
    assert answer["counts"] == {"product": 4, "missing": 2, "unreadable": 0}
    cell = answer["point"]
    smap = _coarse_smap(DAYS[0], tiny_region().coarse.shape)[cell["coarse_row"], cell["coarse_col"]]
    assert answer["days"][1]["smap"] == pytest.approx(smap, abs=1e-7)  # float32 in the file
    assert answer["days"][1]["soil_moisture"] is not None


def _cog(workdir: Path, day: date, asset: str) -> tuple[np.ndarray, Any]:
    import rasterio

    from smprod.layout import WorkLayout

    with rasterio.open(WorkLayout(workdir).product_files(day).cogs()[asset]) as ds:
        return ds.read(1), ds.transform


def _expected(workdir: Path, day: date, inside: np.ndarray) -> dict[str, Any]:
    sm, _ = _cog(workdir, day, "soil_moisture")
    sigma, _ = _cog(workdir, day, "uncertainty")
    qa, _ = _cog(workdir, day, "qa")
    valid = inside & np.isfinite(sm)
    values = sm[valid].astype(np.float64)
    bits = {"coarse_missing": 1, "value_clipped": 4, "no_retrieval": 128}
    return {
        "cells": int(inside.sum()),
        "valid": int(valid.sum()),
        "mean": values.mean(),
        "std": values.std(),
        "min": values.min(),
        "max": values.max(),
        "percentiles": dict(
            zip([f"p{p}" for p in PERCENTILES], np.percentile(values, PERCENTILES), strict=True)
        ),
        "uncertainty_mean": sigma[valid].astype(np.float64).mean(),
        "qa": {name: int(((qa[inside] & bit) > 0).sum()) for name, bit in bits.items()},
    }


def _check(answer: dict[str, Any], expected: dict[str, Any], outside: int) -> None:
    assert answer["cells"] == expected["cells"]
    assert answer["valid_cells"] == expected["valid"]
    assert answer["cells_without_value"] == expected["cells"] - expected["valid"]
    assert answer["cells_outside_region"] == outside
    sm = answer["soil_moisture"]
    for key in ("mean", "std", "min", "max"):
        assert sm[key] == pytest.approx(expected[key], rel=1e-12), key
    assert sm["percentiles"] == pytest.approx(expected["percentiles"], rel=1e-12)
    assert answer["uncertainty_mean"] == pytest.approx(expected["uncertainty_mean"], rel=1e-12)
    for name, count in expected["qa"].items():
        assert answer["qa_counts"][name] == count, name


def test_bbox_statistics_are_numpys_on_the_cog(served: tuple[Path, str]) -> None:
    from rasterio.warp import transform_bounds

    workdir, api = served
    bbox = (-97.95, 35.17, -97.6, 35.24)  # its west part lies beyond the region
    status, answer = _get(f"{api}/query/area?bbox={','.join(map(str, bbox))}&day=2024-06-02")
    assert status == 200, answer
    sm, transform = _cog(workdir, date(2024, 6, 2), "soil_moisture")
    west, south, east, north = transform_bounds("EPSG:4326", "EPSG:6933", *bbox, densify_pts=101)
    col0, col1 = math.floor((west - transform.c) / transform.a), math.ceil((east - transform.c) / transform.a)
    row0, row1 = (
        math.floor((transform.f - north) / -transform.e),
        math.ceil((transform.f - south) / -transform.e),
    )
    inside = np.zeros(sm.shape, dtype=bool)
    inside[max(row0, 0) : row1, max(col0, 0) : col1] = True
    outside = (row1 - row0) * (col1 - col0) - int(inside.sum())
    assert col0 < 0 and outside > 0  # the test's premise: part of the bbox is outside
    assert answer["day"] == "2024-06-02" and answer["area"] == {"kind": "bbox", "bbox": list(bbox)}
    _check(answer, _expected(workdir, date(2024, 6, 2), inside), outside)


def _centres_in_polygon(transform: Any, shape: tuple[int, int]) -> np.ndarray:
    """Which cells of a grid have their centre in :data:`POLYGON` (its hole excluded)."""
    from matplotlib.path import Path as Shape
    from pyproj import Transformer

    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    x, y = transform.c + (cols + 0.5) * transform.a, transform.f + (rows + 0.5) * transform.e
    lon, lat = Transformer.from_crs("EPSG:6933", "EPSG:4326", always_xy=True).transform(x, y)
    points = np.column_stack([lon.ravel(), lat.ravel()])
    outer, hole = (Shape(np.array(ring)) for ring in POLYGON["coordinates"])
    return (outer.contains_points(points) & ~hole.contains_points(points)).reshape(shape)


def test_polygon_statistics_are_numpys_on_the_cog(served: tuple[Path, str]) -> None:
    from affine import Affine

    workdir, api = served
    day = DAYS[-1]
    status, answer = _get(f"{api}/query/area?day={day}", json.dumps(POLYGON).encode())
    assert status == 200, answer
    sm, transform = _cog(workdir, day, "soil_moisture")
    inside = _centres_in_polygon(transform, sm.shape)
    # the polygon's cells on a wider window of the same grid: those beyond the region are outside
    margin = 60
    wide = _centres_in_polygon(
        transform * Affine.translation(-margin, -margin), (sm.shape[0] + 2 * margin,) * 2
    )
    assert wide[margin:-margin, margin:-margin].sum() == inside.sum()
    outside = int(wide.sum() - inside.sum())
    assert outside > 0 and inside.sum() > 100  # the premise: the polygon is partly outside
    _check(answer, _expected(workdir, day, inside), outside)
    feature = {"type": "Feature", "properties": {}, "geometry": POLYGON}
    assert _get(f"{api}/query/area?day={day}", json.dumps(feature).encode()) == (status, answer)
    newest = _get(f"{api}/query/area", json.dumps(POLYGON).encode())  # no day: the newest
    assert newest == (status, answer)


UNCLOSED = json.dumps(
    {"type": "Polygon", "coordinates": [[[-97.4, 35.2], [-97.3, 35.2], [-97.3, 35.25], [-97.4, 35.3]]]}
).encode()
POINT_GEOMETRY = json.dumps({"type": "Point", "coordinates": [-97.4, 35.2]}).encode()
ELSEWHERE = json.dumps(
    {"type": "Polygon", "coordinates": [[[10, 45], [11, 45], [11, 46], [10, 45]]]}
).encode()


@pytest.mark.parametrize(
    ("query", "body", "status", "words"),
    [
        ("point?lon=-50&lat=35.2", None, 400, "outside the region"),
        ("point?lon=east&lat=35.2", None, 400, "parameter lon='east' is not a number"),
        ("point?lon=-97.3", None, 400, "parameter lat is missing"),
        ("point?lon=-97.3&lat=35.2&start=2024-06-05&end=2024-06-01", None, 400, "is after end"),
        ("area?bbox=-97.5,35.1,-97.2", None, 400, "has 3 numbers"),
        ("area?bbox=-97.2,35.1,-97.5,35.3", None, 400, "longitude pair looks swapped"),
        ("area?bbox=10,45,11,46", None, 400, "is outside the region"),
        ("area?bbox=-97.5,35.1,-97.2,35.3&day=2024-06-03", None, 404, "no product for 2024-06-03"),
        ("area?bbox=-97.5,35.1,-97.2,35.3&day=June", None, 400, "parameter day='June' is not a day"),
        ("area?day=2024-06-02", UNCLOSED, 400, "is not closed"),
        ("area?day=2024-06-02", POINT_GEOMETRY, 400, "'Point' is not an area"),
        ("area?day=2024-06-02", b"{not json", 400, "the body is not JSON"),
        ("area?day=2024-06-02", ELSEWHERE, 400, "covers no 1 km cell centre of the region"),
    ],
)  # fmt: skip
def test_requests_that_cannot_be_answered_say_why(
    served: tuple[Path, str], query: str, body: bytes | None, status: int, words: str
) -> None:
    _, api = served
    code, answer = _get(f"{api}/query/{query}", body)
    assert (code, answer["status"]) == (status, status)
    assert words in answer["error"]
    assert "Traceback" not in answer["error"]
