"""Edits tests make to a copy of a synthetic archive whose files are hard links to a shared one.

A test that changes a granule must not change the file the other tests read: every edit first
gives the path a new inode (:func:`replace_file`), then changes that.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path


def replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as a new file (a new inode: the shared archive keeps its file)."""
    path.unlink()
    path.write_bytes(data)


def all_fill_smap(archive: Path, day: date) -> None:
    """Make the SMAP granule of ``day`` all fill (-9999) in both passes, otherwise valid."""
    import h5py

    [path] = archive.rglob(f"SMAP_L3_SM_P_{day:%Y%m%d}_*.h5")
    replace_file(path, path.read_bytes())
    with h5py.File(path, "a") as f:
        for group, suffix in (
            ("Soil_Moisture_Retrieval_Data_AM", ""),
            ("Soil_Moisture_Retrieval_Data_PM", "_pm"),
        ):
            f[f"{group}/soil_moisture{suffix}"][...] = -9999.0
