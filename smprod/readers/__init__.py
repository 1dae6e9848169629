"""Readers: one module per granule format.

Each returns xarray objects on the granule's native grid with QC applied, physical units and fill
as NaN (the "Readers" contract in docs/architecture.md); problems raise GranuleFormatError.
"""
