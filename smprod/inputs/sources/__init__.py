"""Where granules come from: a local archive, or NASA Earthdata with the archive as cache.

Both implement :class:`~smprod.inputs.sources.base.GranuleSource`; ingest does not care which one it
is given. See :mod:`smprod.inputs.sources.archive` and :mod:`smprod.inputs.sources.earthdata`.
"""

from smprod.inputs.sources.archive import ArchiveSource
from smprod.inputs.sources.base import GranuleQuery, GranuleRef, GranuleSource

__all__ = ["ArchiveSource", "GranuleQuery", "GranuleRef", "GranuleSource"]
