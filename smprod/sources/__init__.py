"""Where granules come from: a local archive, or NASA Earthdata with the archive as cache.

Both implement :class:`~smprod.sources.base.GranuleSource`; ingest does not care which one it
is given. See :mod:`smprod.sources.archive` and :mod:`smprod.sources.earthdata`.
"""

from smprod.sources.archive import ArchiveSource
from smprod.sources.base import GranuleQuery, GranuleRef, GranuleSource

__all__ = ["ArchiveSource", "GranuleQuery", "GranuleRef", "GranuleSource"]
