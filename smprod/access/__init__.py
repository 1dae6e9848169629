"""Reading the published products for people: a point's time series and an area extract.

:mod:`smprod.access.series` samples the 1 km pixel containing a point, day by day, next to SMAP
and the bilinear-SMAP baseline; :mod:`smprod.access.extract` cuts an area out of many days into
one CF-conventions dataset. Both read the product files through the product contract
(:func:`smprod.product.read_layers` / :func:`smprod.product.read_product`, only the window
they need) and never the environment or the clock: the work layout, the region and the dates are
arguments.

This module holds what both share: the closed day range of a request.
"""

from __future__ import annotations

from datetime import date, timedelta

from smprod.errors import ConfigError


def day_range(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, both included.

    Raises:
        ConfigError: if ``start`` is after ``end``.
    """
    if start > end:
        raise ConfigError(f"start {start} is after end {end}: give a start on or before the end")
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
