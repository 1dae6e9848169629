"""Official granule file names: the one grammar of them, and which granule wins when several exist.

Every granule smprod uses is identified by its official file name (the archive contract in the
design: files are found by name anywhere below the archive root, and the archive is also the
download cache). This module is the only place that knows the naming rules: :func:`parse_name`
turns any official SMAP L3, IMERG or MODIS land-tile name into a frozen :class:`GranuleName`
(the readers dispatch on it and take the release, run, tile and date from it);
:func:`parse_granule_name` narrows that to the products smprod ingests (what the sources, the
ledger and reprocessing see); :func:`rank_candidates` and :func:`select_best` apply the
selection rules an operator expects:

- SMAP L3 (``SMAP_L3_SM_P[_E]_YYYYMMDD_RVVVVV_NNN.h5``, SMAP L3 Product Specification, NSIDC):
  per date the newest Composite Release ID wins, then the highest file counter (``_002`` is a
  reprocessing of ``_001`` with the same release).
- GPM IMERG daily (``3B-DAY[-E|-L].MS.MRG.3IMERG.YYYYMMDD-S000000-E235959.VVVVV.V07B.nc4``,
  GES DISC IMERG daily README): per date Final (``3B-DAY``) beats Late (``3B-DAY-L``) beats
  Early (``3B-DAY-E``); within a run the newest version (``V07B`` > ``V07A`` > ``V06B``).
- MODIS (``PRODUCT.AYYYYDDD.hHHvVV.CCC.YYYYDDDHHMMSS.hdf``, MODIS naming conventions, LP DAAC):
  Terra (``MOD``) and Aqua (``MYD``) are different products and are both kept; per product,
  tile and date the newest collection, then the newest production time wins.
- GOSIF solar-induced fluorescence (Li & Xiao 2019, ``GOSIF_YYYYDDD.tif``: the 8-day composite
  starting on day of year DDD; ``GOSIF_YYYY.Mmm.tif``: month mm): one file per period, no
  releases, so a slot has one candidate. Ingested (with the ``use_sif`` setting) is the 8-day one.

Dates: SMAP and IMERG carry the calendar day; MODIS ``AYYYYDDD`` is the day of year (the
composite *start* for the 16-day MOD13A2/MYD13A2); MCD12Q1 is yearly (``AYYYY001``); GOSIF
``YYYYDDD`` is its 8-day composite's start (the last of a year ends on 31 December).

Readable but not ingested: IMERG half-hourly granules
(``3B-HHR[-E|-L].MS.MRG.3IMERG.YYYYMMDD-SHHMMSS-EHHMMSS.MMMM.VVVV.HDF5``), MODIS land-tile
products other than :data:`MODIS_PRODUCTS` (the MODIS reader names them as unsupported) and the
monthly GOSIF composites.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import TypeVar

import numpy as np

from smprod.grids.ease import Region

#: SMAP L3 passive soil moisture short names: SPL3SMP (36 km) and SPL3SMP_E (enhanced, 9 km).
SMAP_PRODUCTS = ("SPL3SMP", "SPL3SMP_E")
#: MODIS products the system reads (LST, 16-day VI, daily albedo, yearly land cover).
MODIS_PRODUCTS = ("MOD11A1", "MYD11A1", "MOD13A2", "MYD13A2", "MCD43A3", "MCD12Q1")
#: CMR short names of the IMERG daily runs (GES DISC), by run.
IMERG_PRODUCTS = {"Final": "GPM_3IMERGDF", "Late": "GPM_3IMERGDL", "Early": "GPM_3IMERGDE"}
#: CMR short names of the IMERG half-hourly runs: readable (real samples), never ingested.
IMERG_HALF_HOURLY_PRODUCTS = {"Final": "GPM_3IMERGHH", "Late": "GPM_3IMERGHHL", "Early": "GPM_3IMERGHHE"}
#: IMERG file-name prefix -> run (GES DISC naming).
IMERG_RUN_PREFIX = {"3B-DAY": "Final", "3B-DAY-L": "Late", "3B-DAY-E": "Early"}
#: IMERG half-hourly file-name prefix -> run.
IMERG_HALF_HOURLY_RUN_PREFIX = {"3B-HHR": "Final", "3B-HHR-L": "Late", "3B-HHR-E": "Early"}
#: Run preference: a larger number wins (Final is gauge-calibrated; Late/Early are near real time).
IMERG_RUN_RANK = {"Early": 0, "Late": 1, "Final": 2}
#: Days a MOD13A2/MYD13A2 composite spans, starting on the day in its name (MOD13 User's Guide).
VI_COMPOSITE_DAYS = 16
#: MODIS platform by product prefix.
MODIS_PLATFORM = {"MOD": "Terra", "MYD": "Aqua", "MCD": "Combined"}
#: GOSIF products (names of our own: GOSIF is distributed outside CMR, by the University of New
#: Hampshire, globalecology.unh.edu): the 8-day composites (ingested) and the monthly ones.
SIF_PRODUCT, SIF_MONTHLY_PRODUCT = "GOSIF_8day", "GOSIF_monthly"
#: Days a GOSIF 8-day composite spans, starting on the day in its name (Li & Xiao 2019).
SIF_COMPOSITE_DAYS = 8

#: The products smprod ingests: :func:`parse_granule_name` accepts only these.
INGESTED_PRODUCTS = frozenset((*SMAP_PRODUCTS, *MODIS_PRODUCTS, *IMERG_PRODUCTS.values(), SIF_PRODUCT))

#: What competing granules share (see :attr:`GranuleName.slot`).
Slot = tuple[str, str, date]

#: The official name forms, as error messages show them.
NAME_FORMS = {
    "SMAP": "SMAP_L3_SM_P[_E]_YYYYMMDD_RNNNNN_NNN.h5",
    "IMERG": "3B-DAY[-E|-L].MS.MRG.3IMERG.YYYYMMDD-S000000-E235959.VNNX.nc4 (or 3B-HHR...HDF5)",
    "MODIS": "PRODUCT.AYYYYDDD.hHHvVV.CCC.YYYYDDDHHMMSS.hdf",
    "SIF": "GOSIF_YYYYDDD.tif (8-day composite starting on day DDD) or GOSIF_YYYY.Mmm.tif (month mm)",
}

_SMAP_RE = re.compile(r"^SMAP_L3_SM_P_(E_)?(\d{8})_R(\d{5})_(\d{3})\.h5$")
_IMERG_RE = re.compile(
    r"^(3B-DAY(?:-[EL])?)\.MS\.MRG\.3IMERG\.(\d{8})-S000000-E235959\.(?:\d{4}\.)?(V\d{2}[A-Z]?)\.nc4$"
)
_IMERG_HHR_RE = re.compile(
    r"^(3B-HHR(?:-[EL])?)\.MS\.MRG\.3IMERG\.(\d{8})-S(\d{6})-E\d{6}\.\d{4}\.(V\d{2}[A-Z]?)\.HDF5$"
)
#: Any MODIS land-tile product (``MOD11A1``, ``MCD12Q1``, ``MOD09GA``, ``MCD15A2H``, ...).
_MODIS_RE = re.compile(
    r"^(M[OYC]D\d{2}[A-Z0-9]+)\.A(\d{4})(\d{3})\.h(\d{2})v(\d{2})\.(\d{3})\.(\d{13})\.hdf$"
)
_GOSIF_RE = re.compile(r"^GOSIF_(\d{4})(\d{3})\.tif$")
_GOSIF_MONTHLY_RE = re.compile(r"^GOSIF_(\d{4})\.M(\d{2})\.tif$")


@dataclass(frozen=True)
class GranuleName:
    """What an official granule file name says.

    Attributes:
        name: the file name itself; also the granule id in the ledger.
        product: CMR short name (``SPL3SMP``, ``MOD11A1``, ``GPM_3IMERGDF``, ...).
        day: the date the granule is for (MODIS composites: the start; MCD12Q1: 1 January).
        family: ``SMAP``, ``MODIS``, ``IMERG`` or ``SIF``.
        tile: MODIS ``hHHvVV``; None otherwise.
        collection: MODIS collection (``061``); None otherwise.
        production: MODIS production time; None otherwise.
        release: SMAP Composite Release ID (``R19240``); None otherwise.
        counter: SMAP file counter (1 for ``_001``); None otherwise.
        run: IMERG ``Final``, ``Late`` or ``Early``; None otherwise.
        version: IMERG version (``V07B``); SMAP/MODIS: None.
        start: IMERG half-hourly start time (``HHMMSS``); None otherwise.
    """

    name: str
    product: str
    day: date
    family: str
    tile: str | None = None
    collection: str | None = None
    production: datetime | None = None
    release: str | None = None
    counter: int | None = None
    run: str | None = None
    version: str | None = None
    start: str | None = None

    @property
    def release_id(self) -> str | None:
        """The identifier an operator compares: ``R19240_001`` (SMAP), ``Final V07B`` (IMERG),
        ``061.2021228105320`` (MODIS)."""
        if self.family == "SMAP":
            return f"{self.release}_{self.counter:03d}"
        if self.family == "IMERG":
            return f"{self.run} {self.version}"
        if self.family == "SIF":
            return "GOSIF"
        stamp = f".{self.production:%Y%j%H%M%S}" if self.production else ""
        return f"{self.collection}{stamp}"

    @property
    def tile_index(self) -> tuple[int, int]:
        """MODIS ``(h, v)`` of the ``hHHvVV`` tile; ``(-1, -1)`` for other families."""
        return (int(self.tile[1:3]), int(self.tile[4:6])) if self.tile else (-1, -1)

    @property
    def half_hourly(self) -> bool:
        """Whether this is an IMERG half-hourly granule (readable, not ingested)."""
        return self.product in IMERG_HALF_HOURLY_PRODUCTS.values()

    @property
    def platform(self) -> str | None:
        """MODIS ``Terra``, ``Aqua`` or ``Combined``; None for other families."""
        return MODIS_PLATFORM.get(self.product[:3]) if self.family == "MODIS" else None

    @property
    def slot(self) -> Slot:
        """What competing granules share: only one granule per slot is used.

        SMAP: (short name, day); IMERG: (``IMERG``, day) across runs; MODIS: (product, tile, day)
        so Terra and Aqua, and different tiles, never compete. IMERG half-hourly: the runs of
        one half hour.
        """
        if self.half_hourly:
            return ("IMERG-HHR", self.start or "", self.day)
        if self.family == "IMERG":
            return ("IMERG", "", self.day)
        return (self.product, self.tile or "", self.day)

    @property
    def rank(self) -> tuple:
        """Sort key within a slot: the largest wins (rules in the module docstring)."""
        if self.family == "SMAP":
            return (int(self.release[1:]) if self.release else 0, self.counter or 0)
        if self.family == "IMERG":
            return (IMERG_RUN_RANK[self.run or "Early"], self.version or "")
        return (self.collection or "", self.production or datetime.min)

    @property
    def period(self) -> tuple[date, date]:
        """First and last day the granule's data stand for (16-day composites, yearly land cover)."""
        if self.product in ("MOD13A2", "MYD13A2"):
            return self.day, self.day + timedelta(days=VI_COMPOSITE_DAYS - 1)
        if self.product == "MCD12Q1":
            return self.day, date(self.day.year, 12, 31)
        if self.product == SIF_PRODUCT:
            end = self.day + timedelta(days=SIF_COMPOSITE_DAYS - 1)
            return self.day, min(end, date(self.day.year, 12, 31))
        if self.product == SIF_MONTHLY_PRODUCT:
            following = date(self.day.year + self.day.month // 12, self.day.month % 12 + 1, 1)
            return self.day, following - timedelta(days=1)
        return self.day, self.day

    def covers(self, day: date) -> bool:
        """Whether the granule's data period includes ``day``."""
        first, last = self.period
        return first <= day <= last

    def overlaps(self, start: date, end: date) -> bool:
        """Whether the granule's data period meets the closed range ``start..end``."""
        first, last = self.period
        return first <= end and start <= last


def _smap(match: re.Match[str], name: str) -> GranuleName:
    enhanced, ymd, release, counter = match.groups()
    return GranuleName(
        name=name,
        product="SPL3SMP_E" if enhanced else "SPL3SMP",
        day=datetime.strptime(ymd, "%Y%m%d").date(),
        family="SMAP",
        release=f"R{release}",
        counter=int(counter),
    )


def _imerg(match: re.Match[str], name: str) -> GranuleName:
    prefix, ymd, version = match.groups()
    run = IMERG_RUN_PREFIX[prefix]
    return GranuleName(
        name=name,
        product=IMERG_PRODUCTS[run],
        day=datetime.strptime(ymd, "%Y%m%d").date(),
        family="IMERG",
        run=run,
        version=version,
    )


def _imerg_half_hourly(match: re.Match[str], name: str) -> GranuleName:
    prefix, ymd, start, version = match.groups()
    run = IMERG_HALF_HOURLY_RUN_PREFIX[prefix]
    datetime.strptime(start, "%H%M%S")  # an impossible time is not an official name
    return GranuleName(
        name=name,
        product=IMERG_HALF_HOURLY_PRODUCTS[run],
        day=datetime.strptime(ymd, "%Y%m%d").date(),
        family="IMERG",
        run=run,
        version=version,
        start=start,
    )


def _modis(match: re.Match[str], name: str) -> GranuleName:
    product, year, doy, h, v, collection, production = match.groups()
    return GranuleName(
        name=name,
        product=product,
        day=datetime.strptime(f"{year}{doy}", "%Y%j").date(),
        family="MODIS",
        tile=f"h{h}v{v}",
        collection=collection,
        production=datetime.strptime(production, "%Y%j%H%M%S"),
    )


def _gosif(match: re.Match[str], name: str) -> GranuleName:
    year, doy = match.groups()
    day = datetime.strptime(f"{year}{doy}", "%Y%j").date()
    return GranuleName(name=name, product=SIF_PRODUCT, day=day, family="SIF")


def _gosif_monthly(match: re.Match[str], name: str) -> GranuleName:
    year, month = match.groups()
    return GranuleName(
        name=name, product=SIF_MONTHLY_PRODUCT, day=date(int(year), int(month), 1), family="SIF"
    )


_GRAMMAR = (
    (_SMAP_RE, _smap),
    (_IMERG_RE, _imerg),
    (_IMERG_HHR_RE, _imerg_half_hourly),
    (_MODIS_RE, _modis),
    (_GOSIF_RE, _gosif),
    (_GOSIF_MONTHLY_RE, _gosif_monthly),
)


def parse_name(name: str) -> GranuleName | None:
    """Parse any official SMAP L3, IMERG (daily or half-hourly), MODIS land-tile or GOSIF file name.

    This is what the readers dispatch on: they read formats, including products smprod does not
    ingest. None for any other name, and for a name that matches a pattern but holds an
    impossible date (``A2021400``): it is not an official name.
    """
    for pattern, build in _GRAMMAR:
        match = pattern.match(name)
        if match:
            try:
                return build(match, name)
            except ValueError:
                return None
    return None


def parse_granule_name(name: str) -> GranuleName | None:
    """Parse the official name of a granule smprod ingests (:data:`INGESTED_PRODUCTS`); None otherwise.

    Sources, the ledger and reprocessing use this: an IMERG half-hourly file or a MODIS product
    smprod does not read is not a granule to them.
    """
    parsed = parse_name(name)
    return parsed if parsed is not None and parsed.product in INGESTED_PRODUCTS else None


G = TypeVar("G")


def _identity(item: object) -> GranuleName:
    if not isinstance(item, GranuleName):
        raise TypeError(f"{item!r} is not a GranuleName; pass key= to reach it")
    return item


def rank_candidates(items: Iterable[G], key: Callable[[G], GranuleName] = _identity) -> dict[Slot, list[G]]:
    """Group items by slot, each group sorted best first (rules in the module docstring).

    Args:
        items: granule names, or objects that carry one (give ``key`` to reach it).
        key: returns the :class:`GranuleName` of an item.

    Returns:
        slot -> candidates, best first; the caller falls back to the next one when the best
        is corrupt.
    """
    groups: dict[Slot, list[G]] = defaultdict(list)
    for item in items:
        groups[key(item).slot].append(item)
    # The name breaks exact ties so that the choice never depends on directory order.
    return {
        slot: sorted(group, key=lambda i: (key(i).rank, key(i).name), reverse=True)
        for slot, group in groups.items()
    }


def select_best(names: Iterable[GranuleName]) -> list[GranuleName]:
    """The winning granule of every slot, sorted by (slot) for a stable order."""
    ranked = rank_candidates(names)
    return [ranked[slot][0] for slot in sorted(ranked)]


@lru_cache(maxsize=64)
def modis_tiles(region: Region) -> tuple[str, ...]:
    """The MODIS land tiles (``hHHvVV``) that hold any part of ``region``, sorted (cached: a
    transformer and a few thousand points per call, and ingest asks once per MODIS product).

    Every 1 km cell corner on the region's outline and every coarse cell centre inside it is
    mapped to the sinusoidal tile grid (MODLAND tile constants in
    :mod:`smprod.inputs.readers.hdfeos`). A tile that meets the region either holds a point of the
    outline (sampled at 1 km, far below a tile's 1112 km) or lies wholly inside it, where the
    coarse centres (at most 36 km apart) hit it.
    """
    from pyproj import Transformer

    from smprod.grids.ease import CRS_EASE2
    from smprod.inputs.readers.hdfeos import GRID_X0, GRID_Y0, N_TILES_H, N_TILES_V, TILE_SIZE, sinusoidal_crs

    left, bottom, right, top = region.fine.bounds
    xs = np.linspace(left, right, region.fine.ncols + 1)
    ys = np.linspace(bottom, top, region.fine.nrows + 1)
    cx, cy = np.meshgrid(region.coarse.x, region.coarse.y)
    x = np.concatenate([xs, xs, np.full(ys.size, left), np.full(ys.size, right), cx.ravel()])
    y = np.concatenate([np.full(xs.size, bottom), np.full(xs.size, top), ys, ys, cy.ravel()])
    sx, sy = Transformer.from_crs(CRS_EASE2, sinusoidal_crs(), always_xy=True).transform(x, y)
    h = np.clip(np.floor((sx - GRID_X0) / TILE_SIZE).astype(int), 0, N_TILES_H - 1)
    v = np.clip(np.floor((GRID_Y0 - sy) / TILE_SIZE).astype(int), 0, N_TILES_V - 1)
    return tuple(sorted({f"h{a:02d}v{b:02d}" for a, b in zip(h, v, strict=True)}))
