"""The file server of ``smprod catalog serve`` over real sockets: GDAL ``/vsicurl/`` and
rioxarray read a 512 x 512 window of a served COG with a small fraction of its bytes, byte ranges
and HEAD follow RFC 9110, and only published files are served.

The app is :func:`catalog.serve.files_app` served by :class:`catalog.serve.BackgroundServer`, as
in production, wrapped in a test-only ASGI middleware that records each response's status and
body bytes. The COG is 2048 x 2048 float32 noise written by :func:`smprod.product.cog.write_cog` (512 px
tiles, DEFLATE barely shrinks noise): about 16 MB in 16 full-resolution tiles, so one tile-aligned
512 x 512 window is about 6 % of the file and reading the whole file could never pass.
"""

from __future__ import annotations

import http.client
import json
import shutil
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from catalog.collection import root_catalog
from catalog.serve import BackgroundServer, files_app
from smprod.errors import CatalogError
from smprod.grids.ease import CELL_SIZE, X0, Y0
from smprod.product.bands import BANDS
from smprod.product.cog import write_cog

#: Side of the test COG (pixels): 4 x 4 internal tiles of 512 px.
SIDE = 2048
#: A tile-aligned 512 x 512 window (one internal tile).
WINDOW = Window(col_off=512, row_off=1024, width=512, height=512)
#: The issue's target: a remote windowed read transfers less than this fraction of the file.
MAX_FRACTION = 0.10
#: GDAL settings of a remote COG reader that does not probe for directory listings or sidecars.
GDAL_REMOTE = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif"}
DAY_DIR = "products/2024/06/01"
COG_NAME = "smprod-sm-1km_20240601_soil_moisture.tif"  # as smprod.layout names it
#: Written into every file that must never be served, to check no body leaks it.
SECRET = b"not-for-the-public"

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


@dataclass
class Transfer:
    """One response of the server: request line, Range header, status and body bytes sent."""

    method: str
    path: str
    range: str
    status: int = 0
    body_bytes: int = 0


@dataclass
class BodyBytes:
    """Test-only ASGI middleware: records every response's status and body size."""

    app: App
    transfers: list[Transfer] = field(default_factory=list)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        record = Transfer(scope["method"], scope["path"], headers.get(b"range", b"").decode())
        self.transfers.append(record)

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
            elif message["type"] == "http.response.body":
                record.body_bytes += len(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, counting)

    @property
    def total(self) -> int:
        return sum(transfer.body_bytes for transfer in self.transfers)


@dataclass(frozen=True)
class Served:
    workdir: Path
    base: str
    port: int
    counter: BodyBytes


def _write_tree(workdir: Path) -> None:
    """A catalog, a day of products with the big COG, and everything that must stay private."""
    catalog, day = workdir / "catalog", workdir / DAY_DIR
    (catalog / ".hidden").mkdir(parents=True)
    day.mkdir(parents=True)
    (workdir / "stack").mkdir()
    (catalog / "catalog.json").write_text(json.dumps(root_catalog()))
    data = np.random.default_rng(20240601).uniform(0.0, 0.5, (SIDE, SIDE)).astype(np.float32)
    transform = Affine(CELL_SIZE[1], 0.0, X0, 0.0, -CELL_SIZE[1], Y0)
    write_cog(day / COG_NAME, data, transform, BANDS["soil_moisture"], {"TIFFTAG_SOFTWARE": "smprod test"})
    shutil.copyfile(day / COG_NAME, day / f"copy_{COG_NAME}")  # a second URL: GDAL caches per URL
    for private in (
        catalog / ".collection.lock",  # catalog.publish's lock
        catalog / ".hidden" / "secret.json",
        catalog / ".catalog.json.tmp4242",  # catalog.publish's temporary
        day / f".{COG_NAME}.k3x9q1.part",  # smprod.product's temporary
        day / f"{COG_NAME}.part",  # another tool's partial download
        day / f"{COG_NAME}.PART",
        workdir / "stack" / "secret.txt",  # beside the roots
    ):
        private.write_bytes(SECRET)
    (day / "link-outside.tif").symlink_to(workdir / "stack" / "secret.txt")
    (day / "link-to-partial.tif").symlink_to(day / f".{COG_NAME}.k3x9q1.part")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("work")
    _write_tree(workdir)
    counter = BodyBytes(files_app(workdir / "catalog"))
    server = BackgroundServer(counter, "127.0.0.1", 0, role="files", option="--browse-port")
    server.start()
    try:
        yield Served(workdir, f"http://127.0.0.1:{server.port}", server.port, counter)
    finally:
        server.stop()


def _request(port: int, path: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], bytes]:
    """One request with the path sent exactly as given (no client-side normalisation of ``..``)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _local_window(path: Path) -> np.ndarray:
    with rasterio.open(path) as local:
        return local.read(1, window=WINDOW)


def _check_windowed_transfer(served: Served, path: Path) -> int:
    """The bytes sent for the reads recorded so far; asserts they were range requests only."""
    transferred, size = served.counter.total, path.stat().st_size
    gets = [t for t in served.counter.transfers if t.method == "GET"]
    assert gets and all(t.range and t.status == 206 for t in gets), served.counter.transfers
    assert 0 < transferred < MAX_FRACTION * size, (transferred, size, served.counter.transfers)
    print(f"{path.name}: {transferred} of {size} bytes ({transferred / size:.1%}) in {len(gets)} GETs")
    return transferred


def test_gdal_vsicurl_reads_a_window_with_a_fraction_of_the_file(served: Served) -> None:
    path = served.workdir / DAY_DIR / COG_NAME
    served.counter.transfers.clear()
    with rasterio.Env(**GDAL_REMOTE), rasterio.open(f"/vsicurl/{served.base}/{DAY_DIR}/{COG_NAME}") as remote:
        assert (remote.height, remote.width, remote.crs.to_epsg()) == (SIDE, SIDE, 6933)
        window = remote.read(1, window=WINDOW)
    np.testing.assert_array_equal(window, _local_window(path))
    assert np.isfinite(window).all() and window.shape == (512, 512)
    _check_windowed_transfer(served, path)


def test_rioxarray_reads_the_same_window_with_a_fraction_of_the_file(served: Served) -> None:
    import rioxarray

    path = served.workdir / DAY_DIR / f"copy_{COG_NAME}"
    served.counter.transfers.clear()
    with rasterio.Env(**GDAL_REMOTE):
        cube = rioxarray.open_rasterio(f"/vsicurl/{served.base}/{DAY_DIR}/{path.name}")
        window = cube.rio.isel_window(WINDOW)
        values = window.values[0]
        assert window.rio.crs.to_epsg() == 6933
    with rasterio.open(path) as local:
        # rioxarray rebuilds the transform from pixel-centre coordinates: equal to float rounding
        np.testing.assert_allclose(
            tuple(window.rio.transform()), tuple(local.window_transform(WINDOW)), atol=1e-6
        )
    np.testing.assert_array_equal(values, _local_window(path))
    _check_windowed_transfer(served, path)


def test_byte_ranges_head_and_unsatisfiable_ranges(served: Served) -> None:
    path = served.workdir / DAY_DIR / COG_NAME
    content, size, url = path.read_bytes(), path.stat().st_size, f"/{DAY_DIR}/{COG_NAME}"

    status, headers, body = _request(served.port, url, Range="bytes=100-1099")
    assert (status, headers["content-range"], headers["accept-ranges"]) == (
        206,
        f"bytes 100-1099/{size}",
        "bytes",
    )
    assert int(headers["content-length"]) == 1000 and body == content[100:1100]
    assert _request(served.port, url, Range="bytes=-16")[2] == content[-16:]  # suffix range
    status, headers, body = _request(served.port, url, Range=f"bytes={size - 10}-")  # open-ended
    assert (status, headers["content-range"], body) == (
        206,
        f"bytes {size - 10}-{size - 1}/{size}",
        content[-10:],
    )
    status, headers, body = _request(served.port, url, Range=f"bytes={size - 5}-{size + 1000}")  # end clipped
    assert (status, body) == (206, content[-5:])

    status, headers, body = _request(served.port, url, Range=f"bytes={size}-{size + 10}")
    assert (status, headers["content-range"]) == (416, f"bytes */{size}")

    status, headers, body = _request(served.port, url, "HEAD")
    assert (status, int(headers["content-length"]), headers["accept-ranges"], body) == (
        200,
        size,
        "bytes",
        b"",
    )
    assert headers["content-type"] == "image/tiff" and headers["etag"]
    status, headers, body = _request(served.port, url, "HEAD", Range="bytes=0-99")
    assert (status, headers["content-range"], body) == (206, f"bytes 0-99/{size}", b"")

    status, headers, body = _request(served.port, "/catalog/catalog.json")  # no Range: the whole file
    assert (status, headers["accept-ranges"]) == (200, "bytes")
    assert json.loads(body) == root_catalog()
    assert _request(served.port, url, "POST")[0] == 405  # read-only


def test_published_files_and_the_browse_page_are_served(served: Served) -> None:
    status, headers, _ = _request(served.port, "/")
    assert (status, headers["location"]) == (302, "/catalog/browse/")
    assert _request(served.port, "/catalog/browse")[1]["location"] == "/catalog/browse/"
    status, headers, body = _request(served.port, "/catalog/browse/")
    assert status == 200 and headers["content-type"].startswith("text/html") and b"browse.js" in body
    for path in ("/catalog/browse/browse.js", "/catalog/browse/browse.css", "/catalog/catalog.json"):
        assert _request(served.port, path)[0] == 200, path
    assert _request(served.port, f"/{DAY_DIR}/{COG_NAME}", "HEAD")[0] == 200


@pytest.mark.parametrize(
    "path",
    [
        "/catalog/.collection.lock",
        "/catalog/%2ecollection.lock",  # an encoded dot is still a dot
        "/catalog/.hidden/secret.json",
        "/catalog/.catalog.json.tmp4242",
        f"/{DAY_DIR}/.{COG_NAME}.k3x9q1.part",
        f"/{DAY_DIR}/{COG_NAME}.part",
        f"/{DAY_DIR}/{COG_NAME}.PART",
        f"/{DAY_DIR}/link-outside.tif",  # a symbolic link out of the products
        f"/{DAY_DIR}/link-to-partial.tif",  # a published-looking name for a temporary
        "/catalog/",  # no directory listings
        "/catalog/.hidden/",
        "/products/",
        f"/{DAY_DIR}/",
        "/catalog/../stack/secret.txt",
        "/catalog/%2e%2e/stack/secret.txt",
        "/catalog/%2E%2E/%2E%2E/stack/secret.txt",
        "/products/..%2f..%2fstack%2fsecret.txt",
        "/catalog/browse/../../stack/secret.txt",
        "/products/../catalog/catalog.json",  # escapes its own root, even into another one
        "/stack/secret.txt",
        "/catalog.json",
    ],
)
def test_unpublished_paths_are_not_found(served: Served, path: str) -> None:
    status, _, body = _request(served.port, path)
    assert status == 404, (path, status)
    assert SECRET not in body
    assert _request(served.port, path, "HEAD")[0] == 404


def test_a_used_port_is_a_catalog_error_and_stop_frees_the_port(served: Served, tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="choose another --browse-port"):
        BackgroundServer(files_app(tmp_path), "127.0.0.1", served.port, role="files", option="--browse-port")
    server = BackgroundServer(files_app(tmp_path), "127.0.0.1", 0, role="files", option="--browse-port")
    server.start()
    port, threads = server.port, _server_threads()
    assert _request(port, "/")[0] == 302
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        _request(port, "/")
    assert _server_threads() == threads - 1  # its thread ended; the module's server runs on


def _server_threads() -> int:
    return sum(thread.name == "smprod-files" for thread in threading.enumerate())
