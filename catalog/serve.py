"""Serve the static catalog: a STAC API (``rustac serve``) and the files plus a browse page.

Two servers on one host (default ``127.0.0.1``, nothing is exposed beyond the machine unless
asked), each a uvicorn server in a background thread on a socket bound before anything starts
(so a port in use is a :class:`CatalogError` at once):

* **STAC API** on ``port``: the ``rustac serve`` command-line program (from the ``rustac``
  wheel) with its in-memory backend. It is given two documents written to a temporary folder:
  the collection without its item links and a GeoJSON FeatureCollection of every item, whose
  asset hrefs are rewritten to absolute URLs on the file server (a relative href means nothing to
  an API client, and rustac resolves relative item links against its working directory, not the
  collection file). The in-memory backend cannot be updated, so the API is restarted on the new
  documents when the collection file changes (checked every ``reload_seconds`` by :meth:`wait`).
  rustac listens on a private loopback port (``--bind``) and writes the public address into its
  links (``--addr``); a thin proxy (:class:`ApiProxy`) on ``port`` passes every request through
  and gives the landing page the catalog's own ``id``, ``title`` and ``description``: rustac
  0.9.18 has no option for them and calls itself "stac-server-rs / A STAC API server written in
  Rust". While rustac restarts the proxy answers 503 with ``Retry-After``. The proxy itself
  answers the point and area queries under ``/query/`` (:mod:`catalog.queries`), from the
  products beside the catalog.
* **Files and browse page** on ``browse_port``: Starlette's ``StaticFiles``, which honours
  ``Range`` (206 with ``Content-Range``, several ranges as ``multipart/byteranges``, 416 when the
  start is past the end), ``HEAD``, ``ETag``/``If-Range`` and conditional GETs, so GDAL
  ``/vsicurl/``, QGIS or rioxarray read a window of a COG without downloading it. ``/catalog/``
  is the catalog directory, ``/products/`` the products beside it (item asset hrefs point there),
  ``/catalog/browse/`` the page in ``catalog/browse/`` (it reads ``../catalog.json``); ``/``
  redirects to the page. Only published files are served (:class:`PublishedFiles`): nothing with
  a hidden or temporary path segment, nothing whose real path leaves its directory, no directory
  listing, and nothing else under the work directory (database, MLflow artifacts).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urljoin

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Scope

from catalog.collection import load_items, root_catalog
from catalog.queries import query_routes
from catalog.tiles import TILES_PATH, tiles_app
from smprod.errors import CatalogError
from smprod.layout import PRODUCT_ID

BROWSE = Path(__file__).parent / "browse"
#: rustac's own default API port (``rustac serve --help``).
DEFAULT_PORT = 7822
#: How often ``smprod catalog serve`` looks for newly published days (seconds).
DEFAULT_RELOAD_SECONDS = 30.0
#: Seconds to wait for rustac or a uvicorn server to answer, and for them to stop.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
#: rustac itself only listens here; the proxy on the public host and port is its face.
LOOPBACK = "127.0.0.1"
#: URL prefixes of the file server and the directory beside the catalog that products live in.
BROWSE_PATH = "/catalog/browse"
CATALOG_PATH = "/catalog"
PRODUCTS_PATH = "/products"
PRODUCTS_DIR = "products"
#: Names an interrupted or unfinished write leaves beside its target, never served (smprod's own
#: temporaries also start with "."): ``*.part`` (products), ``*.partial`` (downloads, reports),
#: ``*.tmp`` and ``*.tmp<pid>`` (ledger, ingest, catalog publish), ``*.lock``.
TEMPORARY_NAME = re.compile(r"\.(part|partial|tmp\d*|lock)$", re.IGNORECASE)
#: Landing-page fields the proxy takes from the catalog's ``catalog.json``.
LANDING_FIELDS = ("id", "title", "description")
#: Methods the proxy forwards: the STAC API is read-only (GET/HEAD, POST /search, CORS OPTIONS).
PROXIED_METHODS = ("GET", "HEAD", "POST", "OPTIONS")
#: Hop-by-hop headers (RFC 9110 section 7.6.1) and those the proxy recomputes; never forwarded.
UNFORWARDED_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-encoding",
        "accept-encoding",
    }
)
#: Seconds the proxy waits for rustac to answer one request.
PROXY_TIMEOUT = 60.0
#: What a client is told to wait while rustac restarts on newly published days (seconds).
RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class ServeUrls:
    """Where a running :class:`CatalogServer` answers."""

    api: str
    files: str

    @property
    def browse(self) -> str:
        return f"{self.files}/catalog/browse/"


def api_documents(catalog_root: Path, files_url: str, out: Path) -> list[Path]:
    """Write the collection and all items for rustac into ``out``; return the paths to load.

    Raises:
        CatalogError: when the catalog has no collection or no item (nothing to serve).
    """
    collection_path = catalog_root / PRODUCT_ID / "collection.json"
    items = load_items(catalog_root)
    if not collection_path.is_file() or not items:
        raise CatalogError(f"no published item under {catalog_root}: publish days first (smprod run)")
    collection = json.loads(collection_path.read_text())
    collection["links"] = [
        link for link in collection["links"] if link["rel"] not in {"item", "root", "parent"}
    ]
    features = [_api_item(path, item, catalog_root, files_url) for path, item in items]
    out.mkdir(parents=True, exist_ok=True)
    (out / "collection.json").write_text(json.dumps(collection))
    (out / "items.json").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return [out / "collection.json", out / "items.json"]


def _api_item(path: Path, item: dict[str, Any], catalog_root: Path, files_url: str) -> dict[str, Any]:
    """The item with absolute asset URLs and only its non-structural links (rustac adds the rest)."""
    base = f"{files_url}/catalog/{path.relative_to(catalog_root).as_posix()}"
    item = json.loads(json.dumps(item))  # a private copy
    for asset in item["assets"].values():
        asset["href"] = urljoin(base, asset["href"])
    item["links"] = [
        link for link in item["links"] if link["rel"] not in {"root", "parent", "collection", "self"}
    ]
    return item


def landing_identity(catalog_root: Path) -> dict[str, str]:
    """The API landing page's ``id``, ``title`` and ``description``: the root ``catalog.json``'s,
    or the ones smprod writes there (:func:`catalog.collection.root_catalog`) if it is unreadable."""
    try:
        written = json.loads((catalog_root / "catalog.json").read_text())
    except (OSError, ValueError):  # missing, unreadable or not JSON
        written = {}
    if not isinstance(written, dict):
        written = {}
    default = root_catalog()
    return {key: str(written.get(key) or default[key]) for key in LANDING_FIELDS}


def with_identity(body: bytes, identity: Mapping[str, str]) -> bytes:
    """A landing page ``body`` with the fields of ``identity`` set (unchanged unless a JSON object)."""
    try:
        landing = json.loads(body)
    except ValueError:  # not JSON, or not UTF-8
        return body
    if not isinstance(landing, dict):
        return body
    return json.dumps({**landing, **identity}, separators=(",", ":")).encode()  # compact, as rustac


def is_published(path: str) -> bool:
    """Whether a URL path or ``/``-separated relative path may be served.

    False when a segment is hidden (starts with ``.``, which covers ``.``, ``..``, the
    ``.collection.lock`` and smprod's ``.<name>.<random>.part`` temporaries) or is a temporary
    name (:data:`TEMPORARY_NAME`). Percent-encoded dots are already decoded in an ASGI path.
    """
    segments = [segment for segment in path.split("/") if segment]
    return not any(segment.startswith(".") or TEMPORARY_NAME.search(segment) for segment in segments)


class PublishedFiles(StaticFiles):
    """Starlette's static files (ranges, HEAD, ETags; directories never listed unless ``html``,
    where only ``index.html`` is served) restricted to published files: 404 for an unpublished
    URL (:func:`is_published`), and for a symbolic link to an unpublished file."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """404 before touching the disk when the full URL path names an unpublished file."""
        if not is_published(scope["path"]):
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        """Starlette's lookup (real path inside the directory), refused for unpublished targets."""
        full_path, stat_result = super().lookup_path(path)
        if stat_result is None:
            return full_path, stat_result
        relative = os.path.relpath(full_path, os.path.realpath(self.directory or os.curdir))
        if relative != os.curdir and not is_published(relative.replace(os.sep, "/")):
            return "", None
        return full_path, stat_result

    async def check_config(self) -> None:
        """Accept a missing directory: it has no published file (404, not Starlette's error 500).
        The catalog directory itself is checked when the server starts."""
        return None


async def _to_browse_page(request: Request) -> Response:
    """``/`` and ``/catalog/browse`` lead to the browse page."""
    return RedirectResponse(f"{BROWSE_PATH}/", status_code=302)


def files_app(catalog_root: Path) -> Starlette:
    """The ASGI app of the file server: the catalog, the products beside it and the browse page."""
    root = catalog_root.resolve()
    routes = [
        Route("/", _to_browse_page, methods=["GET"]),
        Route(BROWSE_PATH, _to_browse_page, methods=["GET"]),
        Mount(BROWSE_PATH, app=PublishedFiles(directory=BROWSE.resolve(), html=True)),  # before /catalog
        Mount(TILES_PATH, app=tiles_app(root)),  # map tiles, legends, point values: catalog/tiles.py
        Mount(CATALOG_PATH, app=PublishedFiles(directory=root)),
        Mount(PRODUCTS_PATH, app=PublishedFiles(directory=root.parent / PRODUCTS_DIR, check_dir=False)),
    ]
    return Starlette(routes=routes)


@contextlib.asynccontextmanager
async def _http_client(app: Starlette) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """One connection pool to rustac for the proxy's lifetime (``request.state.client``); the
    environment's proxy settings are ignored, rustac is on this machine."""
    async with httpx.AsyncClient(timeout=PROXY_TIMEOUT, trust_env=False) as client:
        yield {"client": client}


class ApiProxy:
    """The STAC API's public face: forwards each request to ``rustac serve`` unchanged, except
    that the landing page (``GET /``) gets :attr:`identity`, and ``routes`` (the point and area
    queries, :mod:`catalog.queries`) are answered here, before anything is forwarded.

    Attributes:
        upstream: base URL of the running rustac (it changes when the API is restarted).
        identity: landing-page fields to set (:func:`landing_identity`).
        app: the ASGI app to serve.
    """

    def __init__(self, routes: Sequence[BaseRoute] = ()) -> None:
        self.upstream = ""
        self.identity: dict[str, str] = {}
        route = Route("/{path:path}", self._forward, methods=list(PROXIED_METHODS))
        self.app = Starlette(routes=[*routes, route], lifespan=_http_client)

    async def _forward(self, request: Request) -> Response:
        """rustac's answer to ``request`` (503 with ``Retry-After`` while rustac is down)."""
        client: httpx.AsyncClient = request.state.client
        raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
        target = self.upstream + raw_path.decode("ascii")  # still percent-encoded, as sent
        if request.url.query:
            target += f"?{request.url.query}"
        headers = {k: v for k, v in request.headers.items() if k not in UNFORWARDED_HEADERS}
        headers["accept-encoding"] = "identity"  # bodies pass through as they are
        landing = request.url.path == "/" and request.method in {"GET", "HEAD"}
        method = "GET" if landing else request.method  # HEAD /: the length of the rewritten page
        try:
            answer = await client.request(method, target, headers=headers, content=await request.body())
        except httpx.TransportError as err:  # rustac restarting on new days, or stopped
            return PlainTextResponse(
                f"the STAC API is not answering ({type(err).__name__}); it restarts for a moment "
                "when new days are published: retry",
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        body = answer.content
        if landing and answer.status_code == 200:
            body = with_identity(body, self.identity)
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in UNFORWARDED_HEADERS}
        if method == "HEAD" and "content-length" in answer.headers:  # no body to measure
            kept["content-length"] = answer.headers["content-length"]
        return Response(body, status_code=answer.status_code, headers=kept)


def _listen(host: str, port: int, role: str, option: str) -> socket.socket:
    """A listening TCP socket on ``host:port``; a port in use or a bad host is a CatalogError."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as err:  # includes socket.gaierror
        raise CatalogError(f"cannot serve {role} on {host}:{port}: {err} (choose another {option})") from err


def _free_loopback_port() -> int:
    """A TCP port on :data:`LOOPBACK` that is free right now (for rustac behind the proxy)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


class BackgroundServer:
    """One ASGI app served by uvicorn in a daemon thread, on a socket bound at construction.

    Binding first makes a port in use a :class:`CatalogError` in the caller's thread (uvicorn
    would log it and end its own thread). uvicorn installs no signal handlers outside the main
    thread, so the command's own SIGTERM/Ctrl-C handling stays in charge.

    Args:
        app: the ASGI application.
        host: interface to listen on.
        port: TCP port (0: any free port, see :attr:`port`).
        role: what is served, for messages ("files", "the STAC API").
        option: the command-line option that picks the port, for messages.
    """

    def __init__(self, app: ASGIApp, host: str, port: int, *, role: str, option: str) -> None:
        self._socket = _listen(host, port, role, option)
        self.role = role
        config = uvicorn.Config(
            app,
            lifespan="on",
            log_config=None,  # leave the application's logging alone
            log_level="warning",
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=int(STOP_TIMEOUT),
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._socket.getsockname()[1])

    def start(self, wait: bool = True) -> None:
        """Start serving in the background thread.

        Args:
            wait: return once uvicorn accepts connections; when False, return at once (requests
                queue on the bound socket meanwhile) and call :meth:`wait_started` later.

        Raises:
            CatalogError: when uvicorn ends or does not start within :data:`START_TIMEOUT`.
        """
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"smprod-{self.role}",
            daemon=True,
        )
        self._thread.start()
        if wait:
            self.wait_started()

    def wait_started(self) -> None:
        """Return once uvicorn accepts connections.

        Raises:
            CatalogError: when uvicorn ends or does not start within :data:`START_TIMEOUT`.
        """
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if self._thread is None or not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise CatalogError(f"the server for {self.role} did not start on port {self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop accepting, let running responses finish (at most :data:`STOP_TIMEOUT`), close."""
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=STOP_TIMEOUT + 5)
            self._thread = None
        self._socket.close()


def files_server(catalog_root: Path, host: str, port: int) -> BackgroundServer:
    """A (not yet running) file server for the catalog, its products and the browse page."""
    return BackgroundServer(files_app(catalog_root), host, port, role="files", option="--browse-port")


def rustac_command() -> list[str]:
    """The ``rustac`` executable installed beside this Python (the wheel's console script)."""
    beside = Path(sys.executable).parent / "rustac"
    found = str(beside) if beside.exists() else shutil.which("rustac")
    if not found:
        raise CatalogError(
            "the rustac command is not installed (pip install rustac, pinned in pyproject.toml)"
        )
    return [found]


def _catalog_stamp(catalog_root: Path) -> int:
    """Changes whenever a publish rewrites the collection (it is rewritten after every item)."""
    collection = catalog_root / PRODUCT_ID / "collection.json"
    return collection.stat().st_mtime_ns if collection.exists() else 0


if sys.platform == "linux":
    import ctypes
    import signal

    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child must not import
    _PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the rustac child, before exec: ask Linux to send SIGTERM when smprod dies, even by
    SIGKILL, so an orphaned API never keeps the port (``prctl(PR_SET_PDEATHSIG)``). It only calls
    an already resolved C function (safe between fork and exec although a thread is running)."""
    if sys.platform == "linux":
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


class CatalogServer:
    """The STAC API and the file server of one catalog; use as a context manager.

    Args:
        catalog_root: the catalog directory (``<workdir>/catalog``).
        host: interface for both servers (keep ``127.0.0.1`` unless behind a proxy).
        port: STAC API port.
        browse_port: file server port (default ``port + 1``).
    """

    def __init__(
        self,
        catalog_root: Path,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        browse_port: int | None = None,
    ) -> None:
        self.catalog_root = catalog_root
        self.urls = ServeUrls(f"http://{host}:{port}", f"http://{host}:{browse_port or port + 1}")
        self._host, self._port, self._browse_port = host, port, browse_port or port + 1
        self._process: subprocess.Popen[bytes] | None = None
        self._proxy = ApiProxy(query_routes(catalog_root.parent))  # products beside the catalog
        self._api: BackgroundServer | None = None
        self._files: BackgroundServer | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._loaded = 0

    def start(self) -> ServeUrls:
        """Start both servers and wait until the API answers.

        Raises:
            CatalogError: nothing to serve, a port in use, or rustac failing to start.
        """
        if not self.catalog_root.is_dir():
            raise CatalogError(f"{self.catalog_root} is not a catalog directory")
        self._scratch = tempfile.TemporaryDirectory(prefix="smprod-serve-")
        try:
            self._api = BackgroundServer(
                self._proxy.app, self._host, self._port, role="the STAC API", option="--port"
            )
            self._files = files_server(self.catalog_root, self._host, self._browse_port)
            self._api.start(wait=False)  # uvicorn starts while rustac does
            self._files.start(wait=False)
            self._start_api()
            self._api.wait_started()
            self._files.wait_started()
        except BaseException:  # leave no port, process or folder behind, then re-raise
            self.stop()
            raise
        return self.urls

    def _start_api(self) -> None:
        """(Re)write the API documents from the catalog as it is now and start rustac on them,
        on a fresh private port the proxy then forwards to."""
        if self._scratch is None:
            raise CatalogError("the catalog server is not started (call start() first)")
        self._loaded = _catalog_stamp(self.catalog_root)
        hrefs = api_documents(self.catalog_root, self.urls.files, Path(self._scratch.name))
        bind = f"{LOOPBACK}:{_free_loopback_port()}"
        self._proxy.identity = landing_identity(self.catalog_root)
        self._proxy.upstream = f"http://{bind}"
        command = [*rustac_command(), "serve", "--addr", self.urls.api, "--bind", bind, *map(str, hrefs)]
        log = Path(self._scratch.name) / "rustac.log"
        with log.open("wb") as sink:
            self._process = subprocess.Popen(
                command, stdout=sink, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        self._wait_until_ready(log)

    def reload_if_changed(self) -> bool:
        """Restart the API on the current catalog when the collection changed since it was loaded
        (the API answers 503 for the fraction of a second rustac needs to start); True if so."""
        if _catalog_stamp(self.catalog_root) == self._loaded:
            return False
        self._stop_api()
        self._start_api()
        return True

    def _wait_until_ready(self, log: Path) -> None:
        """Poll rustac itself (not the proxy, which may not run yet) until its landing page answers."""
        if self._process is None:
            raise CatalogError("rustac serve is not running")
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                output = log.read_text(errors="replace").strip()
                self.stop()
                raise CatalogError(f"rustac serve exited with {code}: {output}")
            try:
                with urllib.request.urlopen(self._proxy.upstream + "/", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise CatalogError(f"the STAC API did not answer at {self.urls.api} within {START_TIMEOUT:.0f} s")

    def wait(self, reload_seconds: float | None = None) -> None:
        """Block until the API process ends (it runs until stopped).

        Args:
            reload_seconds: when set, look this often for a changed collection (a day published
                since the start) and reload the API with it.

        Raises:
            CatalogError: when rustac ends by itself.
        """
        while self._process is not None:
            try:
                code = self._process.wait(timeout=reload_seconds)
            except subprocess.TimeoutExpired:
                self.reload_if_changed()
                continue
            raise CatalogError(f"rustac serve stopped with exit code {code}")

    def _stop_api(self) -> None:
        """SIGTERM to rustac, SIGKILL after a grace period."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def stop(self) -> None:
        """Stop rustac, the proxy and the file server; remove the API documents."""
        self._stop_api()
        self._process = None
        for server in (self._api, self._files):
            if server is not None:
                server.stop()
        self._api = self._files = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def __enter__(self) -> CatalogServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
