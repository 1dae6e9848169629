"""NASA Earthdata through earthaccess, with the local archive as the download cache.

- Login: ``earthaccess.login`` with the strategy ``environment`` (``EARTHDATA_USERNAME`` and
  ``EARTHDATA_PASSWORD``, or ``EARTHDATA_TOKEN``), then ``netrc`` (``~/.netrc`` or ``$NETRC``,
  machine ``urs.earthdata.nasa.gov``). Never interactive: this runs unattended. earthaccess reads
  those itself; smprod never sees, stores or logs the secrets.
- Search: ``earthaccess.search_data(short_name=, version=, temporal=, bounding_box=)`` (CMR
  granule search, UMM-JSON). Search needs no login; downloads do.
- Download: into the archive directory (``<archive>/<product>/<year>/<name>``), so the same code
  reads granules fetched here and granules copied by hand. Atomic (a temporary file beside the
  target, renamed only after verification; removed on any failure), retried with exponential
  backoff on connection errors and HTTP 429/5xx, and verified against the size and checksum CMR
  reports in ``DataGranule.ArchiveAndDistributionInformation`` (UMM-G 1.6: ``SizeInBytes``,
  ``Checksum {Value, Algorithm}``).
- Logging names granules and the URL's host and path only: no headers, no query strings
  (redirects to signed cloud URLs carry credentials there).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from smprod.errors import ConfigError, DownloadError, GranuleChecksumError, MissingInputError
from smprod.inputs.granules import parse_granule_name
from smprod.inputs.sources.archive import ArchiveSource
from smprod.inputs.sources.base import GranuleQuery, GranuleRef, GranuleSource

log = logging.getLogger(__name__)

#: CMR collection versions (CMR collection records of NSIDC, LP DAAC and GES DISC, 2024:
#: SPL3SMP R19 = 009, SPL3SMP_E R19 = 006, MODIS collection 6.1 = 061, IMERG V07 = 07).
CMR_VERSIONS = {
    "SPL3SMP": "009",
    "SPL3SMP_E": "006",
    "MOD11A1": "061",
    "MYD11A1": "061",
    "MOD13A2": "061",
    "MYD13A2": "061",
    "MCD43A3": "061",
    "MCD12Q1": "061",
    "GPM_3IMERGDF": "07",
    "GPM_3IMERGDL": "07",
    "GPM_3IMERGDE": "07",
}
#: Login strategies tried in order (earthaccess names); interactive is never used.
LOGIN_STRATEGIES = ("environment", "netrc")
#: Attempts per network call and the backoff: base * 2**(attempt-1) seconds, capped.
MAX_ATTEMPTS = 4
BACKOFF_BASE_S = 2.0
BACKOFF_MAX_S = 60.0
#: HTTP statuses worth retrying (rate limit, server or gateway trouble).
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
#: Connect and read timeouts (s) of a download request.
TIMEOUT_S = (15.0, 300.0)
CHUNK_BYTES = 1 << 20
#: UMM-G checksum algorithm names -> hashlib names (UMM-G 1.6 ``ChecksumAlgorithmEnum``).
HASHLIB_NAMES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


class _TransientError(Exception):
    """A failure worth retrying (connection reset, timeout, HTTP 429/5xx)."""


def login() -> Any:
    """Log in to Earthdata Login with the environment, then ``.netrc``.

    Returns:
        The authenticated ``earthaccess.Auth``.

    Raises:
        ConfigError: no strategy has credentials, or Earthdata Login rejected them.
    """
    import earthaccess
    from earthaccess.exceptions import LoginAttemptFailure, LoginStrategyUnavailable

    for strategy in LOGIN_STRATEGIES:
        try:
            auth = earthaccess.login(strategy=strategy)
        except LoginStrategyUnavailable:
            log.debug("Earthdata login strategy %r has no credentials", strategy)
            continue
        except LoginAttemptFailure as err:
            raise ConfigError(
                f"Earthdata Login rejected the credentials from the {strategy!r} strategy; "
                "check EARTHDATA_USERNAME/EARTHDATA_PASSWORD/EARTHDATA_TOKEN or ~/.netrc"
            ) from err
        except Exception as err:  # requests errors while talking to Earthdata Login
            raise DownloadError(f"Earthdata Login could not be reached ({type(err).__name__})") from err
        if auth.authenticated:
            log.info("logged in to Earthdata Login (strategy %s)", strategy)
            return auth
    raise ConfigError(
        "no Earthdata credentials: set EARTHDATA_USERNAME and EARTHDATA_PASSWORD (or EARTHDATA_TOKEN), "
        "or add 'machine urs.earthdata.nasa.gov login ... password ...' to ~/.netrc"
    )


def safe_url(url: str) -> str:
    """``url`` without query string, fragment or user info: what may be logged."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"


def _size_and_checksum(item: Mapping[str, Any], name: str) -> tuple[int | None, str | None, str | None]:
    info = item.get("umm", {}).get("DataGranule", {}).get("ArchiveAndDistributionInformation", [])
    entries = [e for e in info if e.get("Name") == name] or (info if len(info) == 1 else [])
    if not entries:
        return None, None, None
    entry = entries[0]
    size = entry.get("SizeInBytes")
    checksum = entry.get("Checksum") or {}
    return (int(size) if size is not None else None, checksum.get("Value"), checksum.get("Algorithm"))


def ref_from_umm(item: Mapping[str, Any]) -> GranuleRef | None:
    """A :class:`GranuleRef` from one CMR UMM-JSON granule record; None if no data link has an
    official name smprod reads.

    The data file is the ``GET DATA`` link whose file name parses (SMAP granules also list
    ``.qa`` and ``.xml`` files under ``GET DATA``).
    """
    for link in item.get("umm", {}).get("RelatedUrls", []):
        if link.get("Type") != "GET DATA":
            continue
        url = str(link.get("URL", ""))
        name = urlsplit(url).path.rsplit("/", 1)[-1]
        granule = parse_granule_name(name)
        if granule is not None and url.startswith("https://"):
            size, checksum, algorithm = _size_and_checksum(item, name)
            return GranuleRef(granule, url=url, size=size, checksum=checksum, checksum_algorithm=algorithm)
    return None


def _hasher(algorithm: str | None) -> Callable[[], Any] | None:
    if algorithm is None:
        return None
    if algorithm.upper().replace("_", "-") in ("ADLER-32", "ADLER32"):
        return _Adler32
    name = HASHLIB_NAMES.get(algorithm.upper().replace("SHA256", "SHA-256").replace("SHA1", "SHA-1"))
    return (lambda: hashlib.new(name)) if name else None


class _Adler32:
    """hashlib-like Adler-32 (UMM-G allows it; some DAACs report it)."""

    def __init__(self) -> None:
        self.value = 1

    def update(self, data: bytes) -> None:
        self.value = zlib.adler32(data, self.value)

    def hexdigest(self) -> str:
        return f"{self.value:08x}"


def _checksum_matches(expected: str, hexdigest: str) -> bool:
    expected = expected.strip().lower()
    if expected == hexdigest:
        return True
    # Adler-32 is sometimes reported in decimal.
    return expected.isdigit() and len(hexdigest) == 8 and int(expected) == int(hexdigest, 16)


def _write_verified(response: Any, ref: GranuleRef, handle: BinaryIO) -> None:
    """Stream ``response`` into ``handle`` and check size and checksum against ``ref``."""
    import requests

    make = _hasher(ref.checksum_algorithm) if ref.checksum else None
    digest = make() if make else None
    written = 0
    try:
        for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
            handle.write(chunk)
            written += len(chunk)
            if digest is not None:
                digest.update(chunk)
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
        raise _TransientError(f"connection lost after {written} bytes ({type(err).__name__})") from err
    if ref.size is not None and written != ref.size:
        raise GranuleChecksumError(ref.name, f"downloaded {written} bytes, CMR reports {ref.size}")
    if digest is not None and ref.checksum and not _checksum_matches(ref.checksum, digest.hexdigest()):
        raise GranuleChecksumError(
            ref.name, f"{ref.checksum_algorithm} {digest.hexdigest()} differs from CMR's {ref.checksum}"
        )
    if ref.checksum and digest is None:
        log.info(
            "%s: checksum algorithm %r not supported, size checked only", ref.name, ref.checksum_algorithm
        )


def _download_once(session: Any, ref: GranuleRef, target: Path) -> None:
    import requests

    url = ref.url or ""  # download() refuses refs without a URL
    try:
        response = session.get(url, stream=True, timeout=TIMEOUT_S, allow_redirects=True)
    except (requests.ConnectionError, requests.Timeout) as err:
        raise _TransientError(type(err).__name__) from err
    with response:
        if response.status_code in RETRY_STATUS:
            raise _TransientError(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            hint = (
                " (credentials or an unaccepted EULA for this DAAC)"
                if response.status_code in (401, 403)
                else ""
            )
            raise DownloadError(f"{ref.name}: HTTP {response.status_code} from {safe_url(url)}{hint}")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{ref.name}.", suffix=".partial")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                _write_verified(response, ref, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)


def download(
    session: Any,
    ref: GranuleRef,
    target: Path,
    *,
    attempts: int = MAX_ATTEMPTS,
    backoff_s: float = BACKOFF_BASE_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Download ``ref.url`` to ``target`` atomically, verified, retrying transient failures.

    Args:
        session: an authenticated ``requests.Session`` (earthaccess's).
        ref: the granule, with the size/checksum CMR reports (None: not checked).
        target: final path; a temporary sibling is renamed onto it only after verification.
        attempts: tries in all; waits ``backoff_s * 2**(n-1)`` (at most ``BACKOFF_MAX_S``) between.
        sleep: how to wait (tests pass a recorder).

    Raises:
        GranuleChecksumError: size or checksum differs (not retried: the server sends what it has).
        DownloadError: a permanent HTTP error, or every attempt failed.
    """
    if ref.url is None:
        raise MissingInputError(f"granule {ref.name} has no download URL")
    for attempt in range(1, attempts + 1):
        try:
            _download_once(session, ref, target)
            log.info("downloaded %s from %s", ref.name, safe_url(ref.url))
            return target
        except _TransientError as err:
            if attempt == attempts:
                raise DownloadError(f"{ref.name}: {attempts} attempts failed, last: {err}") from err
            delay = min(backoff_s * 2 ** (attempt - 1), BACKOFF_MAX_S)
            log.warning(
                "%s: attempt %d/%d failed (%s); retrying in %.1f s", ref.name, attempt, attempts, err, delay
            )
            sleep(delay)
    raise DownloadError(f"{ref.name}: no download attempt was made (attempts={attempts})")


class EarthdataSource(GranuleSource):
    """Granules from NASA Earthdata (CMR + DAAC HTTPS), cached in a local archive.

    Local files found in the archive answer queries too, so a granule is downloaded once.
    """

    def __init__(
        self,
        archive_root: Path,
        *,
        versions: Mapping[str, str] = CMR_VERSIONS,
        attempts: int = MAX_ATTEMPTS,
        backoff_s: float = BACKOFF_BASE_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.archive = ArchiveSource(archive_root)
        self.versions = dict(versions)
        self.attempts, self.backoff_s, self.sleep = attempts, backoff_s, sleep
        self._session: Any = None

    def session(self) -> Any:
        """The authenticated HTTPS session (logs in on first use)."""
        if self._session is None:
            import earthaccess

            login()
            self._session = earthaccess.get_requests_https_session()
        return self._session

    def search(self, query: GranuleQuery, product: str) -> list[GranuleRef]:
        """CMR granules of one product answering ``query``, retried like downloads."""
        import earthaccess

        temporal = (query.start.isoformat(), f"{query.end.isoformat()}T23:59:59Z")
        for attempt in range(1, self.attempts + 1):
            try:
                items = earthaccess.search_data(
                    short_name=product,
                    version=self.versions.get(product),
                    temporal=temporal,
                    bounding_box=tuple(query.bbox),
                )
                break
            except Exception as err:  # RuntimeError (CMR said no) or requests errors
                if attempt == self.attempts:
                    raise DownloadError(f"CMR search for {product} failed: {err}") from err
                sleep_s = min(self.backoff_s * 2 ** (attempt - 1), BACKOFF_MAX_S)
                log.warning(
                    "CMR search for %s failed (%s); retrying in %.1f s", product, type(err).__name__, sleep_s
                )
                self.sleep(sleep_s)
        refs = (ref_from_umm(item) for item in items)
        return [ref for ref in refs if ref is not None and query.wants(ref.granule)]

    def find(self, query: GranuleQuery) -> list[GranuleRef]:
        local = {ref.name: ref for ref in self.archive.find(query)}
        merged: dict[str, GranuleRef] = {}
        for product in query.products:
            if product not in self.versions:  # not in CMR (GOSIF): the archive's copies only
                continue
            for ref in self.search(query, product):
                have = local.pop(ref.name, None)
                merged[ref.name] = GranuleRef(
                    ref.granule,
                    have.path if have else None,
                    ref.url,
                    ref.size,
                    ref.checksum,
                    ref.checksum_algorithm,
                )
        merged.update(local)  # local-only granules (no longer listed upstream) still count
        return sorted(merged.values(), key=lambda r: (r.granule.product, r.granule.day, r.name))

    def target(self, ref: GranuleRef) -> Path:
        """Where a download of ``ref`` goes in the archive."""
        return self.archive.root / ref.granule.product / f"{ref.granule.day:%Y}" / ref.name

    def fetch(self, ref: GranuleRef) -> Path:
        if (
            ref.path is not None
            and ref.path.is_file()
            and (ref.size is None or ref.path.stat().st_size == ref.size)
        ):
            return ref.path
        if ref.url is None:
            return self.archive.fetch(ref)
        return download(
            self.session(),
            ref,
            self.target(ref),
            attempts=self.attempts,
            backoff_s=self.backoff_s,
            sleep=self.sleep,
        )

    def static_files(self) -> dict[str, Path]:
        return self.archive.static_files()
