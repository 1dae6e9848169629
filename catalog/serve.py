"""Serve the static catalog: a STAC API (``rustac serve``) and the files plus a browse page.

Two servers on one host (default ``127.0.0.1``, nothing is exposed beyond the machine unless
asked):

* **STAC API** on ``port``: the ``rustac serve`` command-line program (from the ``rustac``
  wheel) with its in-memory backend. It is given two documents written to a temporary folder:
  the collection without its item links and a GeoJSON FeatureCollection of every item, whose
  asset hrefs are rewritten to absolute URLs on the file server (a relative href means nothing to
  an API client, and rustac resolves relative item links against its working directory, not the
  collection file). The in-memory backend cannot be updated, so the API is restarted on the new
  documents when the collection file changes (checked every ``reload_seconds`` by :meth:`wait`).
* **Files and browse page** on ``browse_port`` (a ``ThreadingHTTPServer`` in a thread): ``/catalog/``
  is the catalog directory, ``/products/`` the products beside it (item asset hrefs point there),
  ``/catalog/browse/`` the page in ``catalog/browse/`` (it reads ``../catalog.json``); ``/``
  redirects to the page. Nothing else under the work directory (database, MLflow artifacts) is
  served, and directories are not listed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from catalog.collection import load_items
from smprod.errors import CatalogError
from smprod.layout import PRODUCT_ID

BROWSE = Path(__file__).parent / "browse"
#: rustac's own default API port (``rustac serve --help``).
DEFAULT_PORT = 7822
#: How often ``smprod catalog serve`` looks for newly published days (seconds).
DEFAULT_RELOAD_SECONDS = 30.0
#: Seconds to wait for rustac to answer, and for it to exit after SIGTERM.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


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


class _FilesHandler(SimpleHTTPRequestHandler):
    """Maps URL prefixes to directories; anything else is 404, directories are never listed."""

    mounts: tuple[tuple[str, Path], ...] = ()

    def translate_path(self, path: str) -> str:
        route = unquote(urlsplit(path).path)
        for prefix, directory in self.mounts:  # longest prefix first
            if route.startswith(prefix):
                target = (directory / route[len(prefix) :]).resolve()
                if target == directory or directory in target.parents:
                    return str(target)
        return str(BROWSE / "does-not-exist")

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/":
            self.send_response(302)
            self.send_header("Location", "/catalog/browse/")
            self.end_headers()
            return
        super().do_GET()

    def list_directory(self, path: str | Any) -> None:  # type: ignore[override]
        self.send_error(404, "directory listing is disabled")
        return None

    def log_message(self, format: str, *args: Any) -> None:
        return None  # quiet: the CLI prints the URLs; errors surface as HTTP statuses


def files_server(catalog_root: Path, host: str, port: int) -> ThreadingHTTPServer:
    """A (not yet running) file server for the catalog, its products and the browse page."""
    root = catalog_root.resolve()
    mounts = (
        ("/catalog/browse/", BROWSE.resolve()),
        ("/catalog/", root),
        ("/products/", (root.parent / "products").resolve()),
    )
    handler = type("FilesHandler", (_FilesHandler,), {"mounts": mounts})
    try:
        return ThreadingHTTPServer((host, port), partial(handler, directory=str(root)))
    except OSError as err:
        raise CatalogError(
            f"cannot serve files on {host}:{port}: {err} (choose another --browse-port)"
        ) from err


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
        self._files: ThreadingHTTPServer | None = None
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
        self._files = files_server(self.catalog_root, self._host, self._browse_port)
        self._start_api()
        threading.Thread(target=self._files.serve_forever, name="smprod-files", daemon=True).start()
        return self.urls

    def _start_api(self) -> None:
        """(Re)write the API documents from the catalog as it is now and start rustac on them."""
        assert self._scratch is not None
        self._loaded = _catalog_stamp(self.catalog_root)
        hrefs = api_documents(self.catalog_root, self.urls.files, Path(self._scratch.name))
        command = [*rustac_command(), "serve", "--addr", f"{self._host}:{self._port}", *map(str, hrefs)]
        log = Path(self._scratch.name) / "rustac.log"
        with log.open("wb") as sink:
            self._process = subprocess.Popen(
                command, stdout=sink, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        self._wait_until_ready(log)

    def reload_if_changed(self) -> bool:
        """Restart the API on the current catalog when the collection changed since it was loaded
        (the API is unavailable for the fraction of a second rustac needs to start); True if so."""
        if _catalog_stamp(self.catalog_root) == self._loaded:
            return False
        self._stop_api()
        self._start_api()
        return True

    def _wait_until_ready(self, log: Path) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                output = log.read_text(errors="replace").strip()
                self.stop()
                raise CatalogError(f"rustac serve exited with {self._process.returncode}: {output}")
            try:
                with urllib.request.urlopen(self.urls.api + "/", timeout=2) as response:
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
        """Stop rustac and the file server; remove the API documents."""
        self._stop_api()
        self._process = None
        if self._files is not None:
            self._files.shutdown()
            self._files.server_close()
            self._files = None
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
