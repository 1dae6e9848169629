"""Readers: one module per granule format.

Each returns xarray objects on the granule's native grid with QC applied, physical units and fill
as NaN (the "Readers" contract in docs/architecture.md); problems raise GranuleFormatError.
:func:`reader_for` picks the reader from an official file name (the archive contract in
``../shared/design.md``), so callers need not repeat the naming rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

#: Official file-name patterns -> "module:function" of the reader (archive contract).
_READERS = (
    (re.compile(r"^SMAP_L3_SM_P_(E_)?\d{8}_R\d{5}_\d{3}\.h5$"), "smap:read_smap_l3"),
    (re.compile(r"^M[OYC]D\w+\.A\d{7}\.h\d{2}v\d{2}\.\d{3}\.\d{13}\.hdf$"), "modis:read_modis"),
    (re.compile(r"^3B-(DAY|HHR)(-[EL])?\.MS\.MRG\.3IMERG\..*\.(nc4|HDF5)$"), "imerg:read_imerg"),
    (re.compile(r"^.+\.stm$"), "ismn:read_stm"),
    (re.compile(r"^.+\.tif{1,2}$", re.IGNORECASE), "static:read_static"),
)


def reader_for(name: str) -> Callable[..., Any] | None:
    """The reader function for a granule file name, or None if no reader knows the name."""
    from importlib import import_module

    for pattern, target in _READERS:
        if pattern.match(name):
            module, function = target.split(":")
            return getattr(import_module(f"smprod.inputs.readers.{module}"), function)  # type: ignore[no-any-return]
    return None
