"""Gridded day inputs written straight from a simulated world, for regions too large for an archive.

The throughput benchmark needs the inputs of regions of up to 4 million 1 km cells; making them
through MODIS/IMERG/SMAP granules would measure ingest, not production. This writes what ingest
writes, as a client of the day-input contract :mod:`smprod.inputs.dayfiles` (its variables,
attributes and writer, so the same chunking and encoding, and its combination rules: Terra and
Aqua averaged where both see, the lagged SMAP, the 3-day rain sum) from the world's fields with
the archive's observation model: clouds in LST, SMAP with its noise and gaps.
It is a benchmark fixture, not a second archive: accuracy is judged on the real-format archive.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from smprod.config import coarse_product_of
from smprod.grids.ease import Region
from smprod.grids.regrid import block_mean
from smprod.inputs.dayfiles import (
    FINE_VARIABLES,
    PRECIP_DAYS,
    day_attrs,
    lagged_smap,
    mean_valid,
    precip_total,
    write_day_inputs,
)
from smprod.layout import WorkLayout
from smprod.synthetic.archive import SMAP_NOISE, SMAP_OVERPASS_COVER
from smprod.synthetic.world import Day, World


def _smap(truth: NDArray, rng: np.random.Generator) -> NDArray[np.float32]:
    """One day of coarse SMAP: the truth's cell means with retrieval noise; unseen cells NaN."""
    seen = rng.random(truth.shape) < SMAP_OVERPASS_COVER
    noisy = np.clip(truth + rng.normal(0.0, SMAP_NOISE, truth.shape), 0.02, 0.5)
    return np.where(seen, noisy, np.nan).astype(np.float32)


def _fine_fields(world: World, day: Day, rain: dict[date, NDArray]) -> dict[str, NDArray]:
    st = world.statics
    days = [rain.get(day.day - timedelta(days=back)) for back in range(PRECIP_DAYS)]
    precip_3d = precip_total(days, day.precip.shape)
    fields: dict[str, NDArray] = {
        "lst_day": mean_valid(list(day.lst_day.values())),
        "lst_night": mean_valid(list(day.lst_night.values())),
        "ndvi": day.ndvi,
        "evi": day.evi,
        "albedo_bsa": day.albedo_bsa,
        "albedo_wsa": day.albedo_wsa,
        "precip": day.precip,
        "precip_3d": precip_3d,
        "landcover": st.landcover,
        "elevation": st.elevation,
        "slope": st.slope,
        "sand": st.sand,
        "silt": st.silt,
        "clay": st.clay,
    }
    return {name: np.asarray(fields[name]).astype(np.int16 if name == "landcover" else np.float32)
            for name in FINE_VARIABLES}  # fmt: skip


def write_gridded_inputs(world: World, layout: WorkLayout, seed: int = 0) -> list[date]:
    """Write every day of ``world`` as gridded inputs under ``layout``; returns the days written."""
    region: Region = world.region
    rng = np.random.default_rng(seed)
    smap = {d.day: _smap(block_mean(d.theta, region.factor), rng) for d in world.days}
    rain = {d.day: d.precip for d in world.days}
    for day in world.days:
        coarse_sm = smap[day.day]
        passes = xr.Dataset(
            {name: (("y", "x"), coarse_sm) for name in ("sm", "sm_am", "sm_pm")},
        )
        attrs = day_attrs(
            day.day,
            {"synthetic-gridded": [f"world-seed-{seed}-{day.day.isoformat()}"]},
            smap_release="synthetic",
            precip_run="Final",
            coarse_product=coarse_product_of(region.coarse.km),
        )
        lags = lagged_smap(smap, day.day, region.coarse.shape)
        write_day_inputs(layout, region, day.day, _fine_fields(world, day, rain), passes, lags, attrs)
    return [d.day for d in world.days]
