"""A local archive: any directory tree holding granules under their official names.

The design's archive contract: granules are found by name anywhere below the root; static
layers are ``static/{elevation,sand,silt,clay}.tif``. The tree is walked once (lazily, on the
first query) and indexed by product; :meth:`ArchiveSource.refresh` walks it again (after
downloads or quarantines changed it).
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from smprod.errors import ConfigError, MissingInputError
from smprod.inputs.granules import parse_granule_name
from smprod.inputs.sources.base import STATIC_LAYERS, GranuleQuery, GranuleRef, GranuleSource


def require_archive(root: Path) -> Path:
    """``root`` when it is an existing folder (an archive to read granules from).

    :class:`ArchiveSource` itself accepts a missing root (it finds nothing: the Earthdata source
    keeps its download cache there and creates it on the first download); a command that reads
    only the archive calls this first, so a mistyped path is named instead of "no granule found".

    Raises:
        ConfigError: naming the path, the setting and the fix.
    """
    root = Path(root)
    if root.is_dir():
        return root
    problem = "is not a folder" if root.exists() else "does not exist"
    raise ConfigError(
        f"archive folder {root} {problem} (setting archive: --archive, SMPROD_ARCHIVE or archive in "
        "smprod.toml; default <workdir>/archive): give the folder that holds the granules, or set "
        "earthdata to download them into it"
    )


class ArchiveSource(GranuleSource):
    """Granules found by official file name anywhere below ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._index: dict[str, list[GranuleRef]] | None = None
        self._static: dict[str, Path] = {}

    def refresh(self) -> None:
        """Walk the tree again (one pass; symlinked directories are not followed)."""
        index: dict[str, list[GranuleRef]] = defaultdict(list)
        static: dict[str, Path] = {}
        for directory, _dirs, files in os.walk(self.root):
            for file_name in files:
                path = Path(directory) / file_name
                granule = parse_granule_name(file_name)
                if granule is not None:
                    index[granule.product].append(GranuleRef(granule, path=path, size=_size(path)))
                elif path.parent.name == "static" and path.suffix == ".tif" and path.stem in STATIC_LAYERS:
                    static.setdefault(path.stem, path)
        self._index, self._static = dict(index), static

    def _refs(self) -> dict[str, list[GranuleRef]]:
        if self._index is None:
            self.refresh()
        return self._index or {}

    def find(self, query: GranuleQuery) -> list[GranuleRef]:
        refs = self._refs()
        found = [
            ref for product in query.products for ref in refs.get(product, []) if query.wants(ref.granule)
        ]
        return sorted(found, key=lambda ref: (ref.granule.product, ref.granule.day, ref.name, str(ref.path)))

    def fetch(self, ref: GranuleRef) -> Path:
        if ref.path is None or not ref.path.is_file():
            raise MissingInputError(
                f"granule {ref.name} is not in the archive {self.root} (looked for {ref.path}); "
                "copy it there or enable Earthdata downloads"
            )
        return ref.path

    def static_files(self) -> dict[str, Path]:
        self._refs()
        return dict(self._static)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
