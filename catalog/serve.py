"""Serve the static catalog: a STAC API (``rustac serve``) and the files plus a browse page.

Two servers on one host (default ``127.0.0.1``, nothing is exposed beyond the machine unless
asked):

* **STAC API** on ``port``: the ``rustac serve`` command-line program (from the ``rustac``
  wheel) with its in-memory backend. It is given two documents written to a temporary folder:
  the collection without its item links and a GeoJSON FeatureCollection of every item, whose
  asset hrefs are rewritten to absolute URLs on the file server (a relative href means nothing to
  an API client, and rustac resolves relative item links against its working directory, not the
  collection file). The backend is loaded at start: days published later appear after a restart.
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


def _die_with_parent() -> None:
    """In the rustac child: ask Linux to send SIGTERM when smprod dies, even by SIGKILL, so an
    orphaned API never keeps the port (``prctl(PR_SET_PDEATHSIG)``; a no-op elsewhere)."""
    if sys.platform == "linux":
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


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

    def start(self) -> ServeUrls:
        """Start both servers and wait until the API answers.

        Raises:
            CatalogError: nothing to serve, a port in use, or rustac failing to start.
        """
        if not self.catalog_root.is_dir():
            raise CatalogError(f"{self.catalog_root} is not a catalog directory")
        self._scratch = tempfile.TemporaryDirectory(prefix="smprod-serve-")
        hrefs = api_documents(self.catalog_root, self.urls.files, Path(self._scratch.name))
        self._files = files_server(self.catalog_root, self._host, self._browse_port)
        command = [*rustac_command(), "serve", "--addr", f"{self._host}:{self._port}", *map(str, hrefs)]
        log = Path(self._scratch.name) / "rustac.log"
        with log.open("wb") as sink:  # started before any thread of ours: preexec_fn is then safe
            self._process = subprocess.Popen(
                command, stdout=sink, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        threading.Thread(target=self._files.serve_forever, name="smprod-files", daemon=True).start()
        self._wait_until_ready(log)
        return self.urls

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

    def wait(self) -> None:
        """Block until the API process ends (it runs until stopped).

        Raises:
            CatalogError: when rustac ends by itself.
        """
        if self._process is not None and self._process.wait() != 0:
            raise CatalogError(f"rustac serve stopped with exit code {self._process.returncode}")

    def stop(self) -> None:
        """Stop rustac (SIGTERM, then SIGKILL after a grace period) and the file server."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
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
