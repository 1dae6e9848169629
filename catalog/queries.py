"""Point and area queries of the published products, served beside the STAC API.

Routes (JSON answers; values in m3/m3, missing values as ``null``):

* ``GET /query/point?lon=&lat=[&start=YYYY-MM-DD][&end=YYYY-MM-DD]``: the rows ``smprod series``
  prints, from the same function (:func:`smprod.access.series.point_series`, as
  :func:`smprod.access.series.series_records`): one per day, with the pixel it read.
* ``GET /query/area?bbox=minlon,minlat,maxlon,maxlat[&day=YYYY-MM-DD]`` and
  ``POST /query/area[?day=YYYY-MM-DD]`` with a GeoJSON Polygon or MultiPolygon (or a Feature of
  one) as the body: the day's statistics over the area (:func:`smprod.access.area.area_statistics`).
  Without ``day``, the newest product day.

The region is the one the work directory's products are on
(:func:`smprod.access.products_region`). A request smprod cannot answer gets a JSON
``{"error": message, "status": code}`` naming the problem: 400 for a missing or malformed
parameter, a point or area outside the region, a malformed polygon; 404 for a day without a
product; 413 for a body over :data:`MAX_BODY_BYTES`; 500 for product files that cannot be read
(the message says which). Never a traceback. Answers allow any origin (CORS): the data are public.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from smprod.errors import ConfigError, MissingInputError, ProductError, SmprodError
from smprod.layout import WorkLayout

#: URL paths of the queries.
POINT_PATH = "/query/point"
AREA_PATH = "/query/area"
#: Largest polygon body accepted (bytes).
MAX_BODY_BYTES = 5 * 1024 * 1024
#: Headers of every answer: public data (any origin may read them), never cached (days change).
HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"}


class RequestError(ConfigError):
    """A parameter of the request is missing or malformed (answered 400)."""


class BodyTooLargeError(RequestError):
    """The request body is over :data:`MAX_BODY_BYTES` (answered 413)."""


#: HTTP status of each expected failure; the first matching class wins.
STATUS: tuple[tuple[type[SmprodError], int], ...] = (
    (BodyTooLargeError, 413),
    (ConfigError, 400),
    (MissingInputError, 404),
    (ProductError, 500),
)


def query_routes(workdir: Path) -> list[Route]:
    """The routes answering queries about the products under ``workdir``."""
    queries = Queries(WorkLayout(workdir))
    return [
        Route(POINT_PATH, queries.point, methods=["GET"]),
        Route(AREA_PATH, queries.area, methods=["GET", "POST"]),
    ]


class Queries:
    """The endpoints, over one work directory's products."""

    def __init__(self, layout: WorkLayout) -> None:
        self.layout = layout

    async def point(self, request: Request) -> JSONResponse:
        """A point's series (``lon``, ``lat``, optional ``start``/``end``)."""
        params = request.query_params
        try:
            lon = _number(params.get("lon"), "lon", "degrees east")
            lat = _number(params.get("lat"), "lat", "degrees north")
            start, end = _day(params.get("start"), "start"), _day(params.get("end"), "end")
        except SmprodError as err:
            return _error(err)
        return await _answer(self._point, lon, lat, start, end)

    def _point(self, lon: float, lat: float, start: date | None, end: date | None) -> dict[str, Any]:
        from smprod.access import products_region
        from smprod.access.series import point_series, series_records

        region = products_region(self.layout)
        return series_records(point_series(self.layout, region, lon, lat, start, end))

    async def area(self, request: Request) -> JSONResponse:
        """An area's statistics for a day: ``bbox`` (GET) or a GeoJSON body (POST), ``day``."""
        try:
            day = _day(request.query_params.get("day"), "day")
            if request.method == "POST":
                return await _answer(self._polygon, await _geojson(request), day)
            return await _answer(self._bbox, _bbox(request.query_params.get("bbox")), day)
        except SmprodError as err:
            return _error(err)

    def _bbox(self, bbox: tuple[float, float, float, float], day: date | None) -> dict[str, Any]:
        from smprod.access import products_region
        from smprod.access.area import area_statistics, bbox_area

        region = products_region(self.layout)
        return area_statistics(self.layout, region, self._day(day), bbox_area(region, bbox)).to_json()

    def _polygon(self, geojson: Any, day: date | None) -> dict[str, Any]:
        from smprod.access import products_region
        from smprod.access.area import area_statistics, polygon_area

        region = products_region(self.layout)
        return area_statistics(self.layout, region, self._day(day), polygon_area(region, geojson)).to_json()

    def _day(self, day: date | None) -> date:
        """The day asked for, or the newest product day."""
        if day is not None:
            return day
        days = self.layout.product_days()
        if not days:
            raise MissingInputError(f"no product under {self.layout.root / 'products'}: nothing to query")
        return days[-1]


async def _answer(compute: Callable[..., dict[str, Any]], *args: Any) -> JSONResponse:
    """``compute(*args)`` in a worker thread (it reads files) as JSON, or the error it raised."""
    try:
        return JSONResponse(await run_in_threadpool(compute, *args), headers=HEADERS)
    except SmprodError as err:
        return _error(err)


def _error(err: SmprodError) -> JSONResponse:
    status = next((code for kind, code in STATUS if isinstance(err, kind)), 500)
    return JSONResponse({"error": str(err), "status": status}, status_code=status, headers=HEADERS)


def _number(text: str | None, name: str, unit: str) -> float:
    if text is None or not text.strip():
        raise RequestError(f"parameter {name} is missing: give it in {unit}, e.g. ?lon=-97.5&lat=35.2")
    try:
        value = float(text)
    except ValueError:
        raise RequestError(f"parameter {name}={text!r} is not a number ({unit})") from None
    if not math.isfinite(value):
        raise RequestError(f"parameter {name}={text!r} is not a finite number ({unit})")
    return value


def _day(text: str | None, name: str) -> date | None:
    if text is None or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise RequestError(f"parameter {name}={text!r} is not a day: give YYYY-MM-DD") from None


def _bbox(text: str | None) -> tuple[float, float, float, float]:
    if text is None or not text.strip():
        raise RequestError(
            "parameter bbox is missing: give minlon,minlat,maxlon,maxlat (degrees), or POST a GeoJSON polygon"
        )
    parts = text.split(",")
    if len(parts) != 4:
        raise RequestError(
            f"parameter bbox={text!r} has {len(parts)} numbers: give minlon,minlat,maxlon,maxlat"
        )
    values = [_number(part, "bbox", "degrees") for part in parts]
    return values[0], values[1], values[2], values[3]


async def _geojson(request: Request) -> Any:
    """The request body parsed as JSON (at most :data:`MAX_BODY_BYTES`)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise BodyTooLargeError(f"the body is larger than {MAX_BODY_BYTES} bytes: send a simpler polygon")
    if not body.strip():
        raise RequestError('the body is empty: send a GeoJSON Polygon, e.g. {"type": "Polygon", ...}')
    try:
        return json.loads(body)
    except ValueError as err:
        raise RequestError(f"the body is not JSON ({err}): send a GeoJSON Polygon or MultiPolygon") from None
