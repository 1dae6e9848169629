"""Map tiles, legends and point values of the published COGs, for the browse page's map.

A Starlette app mounted at ``/tiles`` in the file server (:func:`catalog.serve.files_app`):

* ``GET /tiles/{item_id}/{asset}/{z}/{x}/{y}.png``: a 256 x 256 Web Mercator (XYZ,
  ``WebMercatorQuad``) tile of the item's ``soil_moisture``, ``qa`` or ``uncertainty`` COG, read and
  reprojected by rio-tiler (nearest neighbour: 1 km pixels stay visible and QA bits are never
  blended), coloured on a FIXED scale: soil moisture on the thumbnails' scale
  (:func:`smprod.product.thumbnail.colourise`, viridis 0-0.5 m3/m3), uncertainty with the same
  function on :data:`UNCERTAINTY_SCALE`, QA as one categorical colour per flag
  (:data:`QA_COLOURS`; a pixel with several flags shows its highest bit, the click panel lists
  them all). Nodata is transparent. A tile that does not touch the item's footprint is a 404
  (as titiler answers; the page also limits its layers to the item's bounds, so it never asks).
* ``GET /tiles/legend/{asset}.json``: the scale of an asset (colour stops or categories).
* ``GET /tiles/point/{item_id}?lon=&lat=``: soil moisture, uncertainty and the QA flag names of
  the pixel at a WGS84 point on the item's day (``inside: false`` off the region), the pixel
  ``smprod series`` and ``/query/point`` answer for, read through the product contract
  (:func:`smprod.product.read.read_layers`: one version of the day).

Only published files are read: the item must exist in the catalog (``<catalog>/<collection>/<id>/
<id>.json``) and its asset href must resolve, through any symbolic link, to a published file
(:func:`catalog.serve.is_published`) in the products directory beside the catalog; anything else
is a 404. Tiles carry an ``ETag`` from the file's identity and answer ``If-None-Match`` with 304,
so a reprocessed day (a new file) is never shown stale.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smprod.errors import ConfigError
from smprod.layout import COG_ASSETS, PRODUCT_ID, WorkLayout
from smprod.product import thumbnail
from smprod.product.bands import QA_NODATA
from smprod.product.read import read_layers
from smprod.qa import QA, UINT8_MAX, flag_names

#: URL prefix of the tile app in the file server.
TILES_PATH = "/tiles"
#: Side of a tile in pixels (Leaflet's default).
TILE_SIZE = 256
#: Deepest zoom served (about 0.6 m per pixel at the equator: far past the 1 km pixels).
MAX_ZOOM = 20
#: An item id as the catalog writes them (:func:`catalog.items.item_id`).
ITEM_ID = re.compile(rf"^{re.escape(PRODUCT_ID)}-\d{{8}}$")
#: Fixed scale of the ``uncertainty`` layer (1 sigma, m3/m3), drawn by the thumbnails' colouring.
UNCERTAINTY_SCALE: dict[str, Any] = {"colormap": "magma", "min": 0.0, "max": 0.1, "units": "m3/m3"}
#: Colour of a QA pixel with no flag set.
QA_NO_FLAG = "#d9d9d9"
#: Colour of each QA flag (bit value -> hex), matplotlib's qualitative ``tab10`` palette.
QA_COLOURS = {
    QA.COARSE_MISSING.value: "#ff7f0e",
    QA.MODIS_GAP_FILLED.value: "#1f77b4",
    QA.VALUE_CLIPPED.value: "#2ca02c",
    QA.OUT_OF_TRAINING_RANGE.value: "#9467bd",
    QA.LESSER_PRECIP.value: "#8c564b",
    QA.SMAP_LAG_FILLED.value: "#e377c2",
    QA.PRECIP_FILLED.value: "#17becf",
    QA.NO_RETRIEVAL.value: "#d62728",
}
#: Colour stops listed in a continuous legend (evenly spaced over the scale).
LEGEND_STOPS = 11
#: Serialises the first imports of rio-tiler, Pillow and matplotlib (:func:`libraries`).
_IMPORT_LOCK = threading.Lock()


def soil_moisture_scale() -> dict[str, Any]:
    """The soil-moisture scale: the thumbnails' (:func:`smprod.product.thumbnail.colour_scale`)."""
    scale = thumbnail.colour_scale()
    return {"colormap": scale["colormap"], "min": scale["min"], "max": scale["max"], "units": scale["units"]}


def continuous_scale(asset: str) -> dict[str, Any]:
    """Colormap, range and units of a continuous asset (``soil_moisture`` or ``uncertainty``)."""
    return soil_moisture_scale() if asset == "soil_moisture" else dict(UNCERTAINTY_SCALE)


def _hex(rgba: NDArray[np.uint8]) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgba[:3])


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def qa_lookup() -> NDArray[np.uint8]:
    """RGBA of each of the 256 QA values: the colour of the highest set bit; 0 the no-flag
    colour; the nodata value 255 (no flag combination reaches it) transparent."""
    table = np.zeros((UINT8_MAX + 1, 4), dtype=np.uint8)
    table[0] = (*_rgb(QA_NO_FLAG), 255)
    for value in range(1, UINT8_MAX):
        table[value] = (*_rgb(QA_COLOURS[1 << (value.bit_length() - 1)]), 255)
    return table


def colour(asset: str, values: NDArray, valid: NDArray[np.bool_]) -> NDArray[np.uint8]:
    """RGBA image of an asset's values; pixels not ``valid`` (nodata, off the grid) transparent."""
    if asset == "qa":
        rgba = qa_lookup()[np.where(valid, values, UINT8_MAX).astype(np.intp)]
    else:
        scale = continuous_scale(asset)
        field = np.where(valid, np.asarray(values, dtype=np.float64), np.nan)
        rgba = thumbnail.colourise(field, scale["min"], scale["max"], scale["colormap"])
    rgba[~valid] = 0
    return rgba


def legend(asset: str) -> dict[str, Any]:
    """The legend of an asset as data, for the page: colour stops or categories."""
    if asset == "qa":
        categories = [{"value": 0, "name": "no flag", "colour": QA_NO_FLAG}]
        for bit, hex_colour in QA_COLOURS.items():
            categories.append({"value": bit, "name": flag_names(bit)[0], "colour": hex_colour})
        note = "a pixel with several flags shows its highest bit; click the map for all of them"
        return {"asset": asset, "type": "categorical", "categories": categories, "note": note}
    scale = continuous_scale(asset)
    table = thumbnail.lookup_table(scale["colormap"])
    stops = [_hex(table[round(i * 255 / (LEGEND_STOPS - 1))]) for i in range(LEGEND_STOPS)]
    return {"asset": asset, "type": "continuous", **scale, "stops": stops, "missing": "transparent"}


def published_asset(catalog_root: Path, item_id: str, asset: str) -> Path:
    """The published COG of an item's asset; 404 unless the item is in the catalog and its href
    resolves to a published file in the products directory beside the catalog."""
    from catalog.serve import PRODUCTS_DIR, is_published  # serve mounts this app: import late

    if asset not in COG_ASSETS or not ITEM_ID.match(item_id):
        raise HTTPException(status_code=404)
    item_path = catalog_root / PRODUCT_ID / item_id / f"{item_id}.json"
    try:
        href = json.loads(item_path.read_text())["assets"][asset]["href"]
    except (OSError, ValueError, KeyError, TypeError) as err:  # no such item, or not an item
        raise HTTPException(status_code=404) from err
    products = os.path.realpath(catalog_root.parent / PRODUCTS_DIR)
    target = os.path.realpath(item_path.parent / str(href))
    relative = os.path.relpath(target, products)
    if relative.startswith(os.pardir) or not is_published(relative.replace(os.sep, "/")):
        raise HTTPException(status_code=404)
    if not os.path.isfile(target):
        raise HTTPException(status_code=404)
    return Path(target)


def _etag(path: Path, *parts: object) -> str:
    stat = path.stat()
    key = f"{path}|{stat.st_ino}|{stat.st_size}|{stat.st_mtime_ns}|" + "|".join(map(str, parts))
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


def libraries() -> tuple[Any, Any, Any]:
    """rio-tiler's ``Reader`` class and ``errors`` module and Pillow's ``Image``, imported (with
    matplotlib's colormaps, which :func:`smprod.product.thumbnail.lookup_table` imports) under
    :data:`_IMPORT_LOCK`.

    rio-tiler takes seconds to import (it loads xarray and dask), so the server starts without it
    (:func:`tiles_app` imports in the background). Imported first by concurrent tile requests in
    the server's worker threads, a package can be seen half initialised (``ImportError: cannot
    import name 'Reader'``), hence the lock: once imported, the lock is only held for a lookup."""
    with _IMPORT_LOCK:
        from matplotlib import colormaps  # noqa: F401
        from PIL import Image
        from rio_tiler import errors
        from rio_tiler.io import Reader
    return Reader, errors, Image


def render_tile(path: Path, asset: str, z: int, x: int, y: int) -> bytes | None:
    """PNG bytes of one XYZ tile of a COG, or None when the tile does not touch the COG."""
    reader_class, errors, image_module = libraries()
    with reader_class(str(path)) as reader:
        if not reader.tile_exists(x, y, z):
            return None
        try:
            image = reader.tile(
                x, y, z, tilesize=TILE_SIZE, indexes=1,
                resampling_method="nearest", reproject_method="nearest",
            )  # fmt: skip
        except errors.TileOutsideBounds:
            return None
    band = image.array[0]
    valid = ~np.ma.getmaskarray(band)
    if asset != "qa":
        valid &= np.isfinite(band.data)
    rgba = colour(asset, band.data, valid)
    out = io.BytesIO()
    image_module.fromarray(rgba, mode="RGBA").save(out, format="PNG", compress_level=1)
    return out.getvalue()


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError as err:
        raise HTTPException(status_code=404) from err


def point_values(catalog_root: Path, item_id: str, lon: float, lat: float) -> dict[str, Any]:
    """Soil moisture, uncertainty and QA of the pixel at ``lon``, ``lat`` on the item's day: the
    region's pixel containing the point (:func:`smprod.access.series.locate_point`, the pixel
    ``smprod series`` and ``/query/point`` answer for), read through the product contract
    (:func:`smprod.product.read.read_layers`, one version of the day)."""
    from smprod.access import products_region
    from smprod.access.series import locate_point

    for asset in COG_ASSETS:
        published_asset(catalog_root, item_id, asset)  # 404 unless the item's files are published
    layout = WorkLayout(catalog_root.parent)
    answer: dict[str, Any] = {"item_id": item_id, "lon": lon, "lat": lat, "units": "m3/m3"}
    try:
        cell = locate_point(products_region(layout), lon, lat)
    except ConfigError:  # off the region: no value, as off the grid
        answer.update(inside=False, soil_moisture=None, uncertainty=None, qa=None, qa_flags=[])
        return answer
    day = datetime.strptime(item_id[-8:], "%Y%m%d").date()
    window = (slice(cell.row, cell.row + 1), slice(cell.col, cell.col + 1))
    layers = read_layers(layout.product_files(day), window).layers
    values = {asset: float(layers[asset][0, 0]) for asset in ("soil_moisture", "uncertainty")}
    found: dict[str, float | None] = {a: v if math.isfinite(v) else None for a, v in values.items()}
    qa = int(layers["qa"][0, 0])
    found["qa"] = None if qa == QA_NODATA else qa
    answer.update(
        inside=any(value is not None for value in found.values()),
        soil_moisture=found["soil_moisture"],
        uncertainty=found["uncertainty"],
        qa=found["qa"],
        qa_flags=[] if found["qa"] is None else list(flag_names(qa)),
    )
    return answer


class _Endpoints:
    """The app's request handlers for one catalog (plain functions: Starlette runs them in its
    thread pool, as rio-tiler and GDAL block)."""

    def __init__(self, catalog_root: Path) -> None:
        self.root = catalog_root

    def tile(self, request: Request) -> Response:
        """A tile's PNG (ETag; 304 when unchanged; 404 off the item or past :data:`MAX_ZOOM`)."""
        item_id, asset = request.path_params["item_id"], request.path_params["asset"]
        z, x, y = (_int(request.path_params[key]) for key in ("z", "x", "y"))
        if not (0 <= z <= MAX_ZOOM and 0 <= x < 2**z and 0 <= y < 2**z):
            raise HTTPException(status_code=404)
        path = published_asset(self.root, item_id, asset)
        etag = _etag(path, z, x, y)
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        png = render_tile(path, asset, z, x, y)
        if png is None:
            raise HTTPException(status_code=404, detail="tile outside the item")
        return Response(png, media_type="image/png", headers=headers)

    def legend(self, request: Request) -> Response:
        """An asset's legend (:func:`legend`)."""
        asset = request.path_params["asset"]
        if asset not in COG_ASSETS:
            raise HTTPException(status_code=404)
        libraries()  # matplotlib's colormaps, imported under the lock
        return JSONResponse(legend(asset))

    def point(self, request: Request) -> Response:
        """The values at ``?lon=&lat=`` (:func:`point_values`); 400 without a valid point."""
        try:
            lon, lat = float(request.query_params["lon"]), float(request.query_params["lat"])
        except (KeyError, ValueError) as err:
            raise HTTPException(status_code=400, detail="give lon and lat in degrees") from err
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):  # also NaN
            raise HTTPException(status_code=400, detail="lon or lat out of range")
        return JSONResponse(point_values(self.root, request.path_params["item_id"], lon, lat))


def tiles_app(catalog_root: Path) -> Starlette:
    """The ASGI app of tiles, legends and point values for the catalog at ``catalog_root``;
    the libraries it reads and draws with are imported meanwhile in the background (:func:`libraries`)."""
    threading.Thread(target=libraries, name="smprod-tiles-imports", daemon=True).start()
    endpoints = _Endpoints(catalog_root.resolve())
    routes = [
        Route("/legend/{asset}.json", endpoints.legend, methods=["GET"]),
        Route("/point/{item_id}", endpoints.point, methods=["GET"]),
        Route("/{item_id}/{asset}/{z}/{x}/{y}.png", endpoints.tile, methods=["GET"]),
    ]
    return Starlette(routes=routes)
