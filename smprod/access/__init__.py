"""Reading the published products for people: a point's time series and an area extract.

:mod:`smprod.access.series` samples the 1 km pixel containing a point, day by day, next to SMAP
and the bilinear-SMAP baseline; :mod:`smprod.access.extract` cuts an area out of many days into
one CF-conventions dataset. Both read the product files through the product contract
(:func:`smprod.product.read_layers` / :func:`smprod.product.read_product`, only the window
they need; the series reads its one pixel a COG with :mod:`smprod.access.cogpixel`, which leaves
any file it does not read to ``read_layers``) and never the environment or the clock: the work
layout, the region and the dates are arguments.

This module holds what they share: the closed day range of a request, and the region a work
directory's products are on (for readers given no settings, such as the served API).
"""

from __future__ import annotations

import json
from datetime import date, timedelta

from smprod.errors import ConfigError, GridError, MissingInputError, ProductError
from smprod.grids.ease import Region, region_from_bbox
from smprod.layout import WorkLayout
from smprod.workdir import read_work_region


def day_range(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, both included.

    Raises:
        ConfigError: if ``start`` is after ``end``.
    """
    if start > end:
        raise ConfigError(f"start {start} is after end {end}: give a start on or before the end")
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def products_region(layout: WorkLayout) -> Region:
    """The region the work directory's products are on: its record (``region.json``, written by
    the first production run), else the region in the newest product's provenance.

    Raises:
        MissingInputError: without a record and without any product.
        ProductError: if the newest product's provenance cannot be read or names no region.
        ConfigError: if the record cannot be read.
    """
    recorded = read_work_region(layout)
    if recorded is not None:
        return recorded.region()
    days = layout.product_days()
    if not days:
        raise MissingInputError(f"no product under {layout.root / 'products'}: produce days first")
    path = layout.product_files(days[-1]).provenance
    try:
        region = json.loads(path.read_text())["region"]
        bbox = tuple(float(v) for v in region["bbox"])
        return region_from_bbox(bbox, int(region["coarse_km"]))  # type: ignore[arg-type]
    except (OSError, ValueError, KeyError, TypeError, GridError) as err:
        raise ProductError(
            f"{path} names no readable region ({err}); smprod product check lists why"
        ) from err
