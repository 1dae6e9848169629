"""The one interface of granule sources: which granules exist, and give me a local file.

A source answers :meth:`GranuleSource.find` with :class:`GranuleRef` records (the parsed
official name, plus a local path and/or a download URL with the size and checksum the
catalogue reports) and turns a ref into a local file with :meth:`GranuleSource.fetch`.
Choosing between competing granules is not a source's job: that is
:func:`smprod.inputs.granules.rank_candidates`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from smprod.inputs.granules import GranuleName

#: Names of the static layers of the archive contract (``static/<name>.tif``).
STATIC_LAYERS = ("elevation", "sand", "silt", "clay")


@dataclass(frozen=True)
class GranuleRef:
    """A granule known to exist, locally or upstream.

    Attributes:
        granule: what its official name says.
        path: the local file, if there is one.
        url: where to download it (Earthdata), if known.
        size: bytes, as the catalogue (CMR) reports; None when unknown.
        checksum: checksum value as the catalogue reports it; None when unknown.
        checksum_algorithm: the UMM-G algorithm name (``MD5``, ``SHA-256``, ...).
    """

    granule: GranuleName
    path: Path | None = None
    url: str | None = None
    size: int | None = None
    checksum: str | None = None
    checksum_algorithm: str | None = None

    @property
    def name(self) -> str:
        """The official file name, which is also the granule id."""
        return self.granule.name


@dataclass(frozen=True)
class GranuleQuery:
    """Which granules are wanted.

    Attributes:
        products: CMR short names (``SPL3SMP``, ``MOD11A1``, ``GPM_3IMERGDF``, ...).
        start, end: closed date range the granules' data periods must meet.
        bbox: lon/lat ``(minlon, minlat, maxlon, maxlat)`` of the region.
        tiles: MODIS tiles (``hHHvVV``) to keep; None keeps every tile.
    """

    products: tuple[str, ...]
    start: date
    end: date
    bbox: tuple[float, float, float, float]
    tiles: tuple[str, ...] | None = None

    def wants(self, granule: GranuleName) -> bool:
        """Whether a parsed name answers this query (product, period and tile)."""
        if granule.product not in self.products or not granule.overlaps(self.start, self.end):
            return False
        return granule.tile is None or self.tiles is None or granule.tile in self.tiles


class GranuleSource(ABC):
    """Which granules exist for products, dates and a region, and local files for them."""

    @abstractmethod
    def find(self, query: GranuleQuery) -> list[GranuleRef]:
        """Every granule answering ``query`` (all releases/runs: the caller selects)."""

    @abstractmethod
    def fetch(self, ref: GranuleRef) -> Path:
        """A local, complete file for ``ref`` (downloaded into the archive if needed).

        Raises:
            MissingInputError: the file is gone and cannot be downloaded from here.
            DownloadError: every download attempt failed.
            GranuleChecksumError: the download's size or checksum is not what was reported.
        """

    @abstractmethod
    def static_files(self) -> dict[str, Path]:
        """Static layer name (``elevation``, ``sand``, ...) -> local GeoTIFF, for those present."""

    def find_many(self, queries: Sequence[GranuleQuery]) -> list[GranuleRef]:
        """All refs answering any of ``queries``, each granule once."""
        seen: dict[str, GranuleRef] = {}
        for query in queries:
            for ref in self.find(query):
                seen.setdefault(ref.name, ref)
        return list(seen.values())
