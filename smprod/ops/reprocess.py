"""Which produced days deserve to be produced again because a better input has arrived.

The design's archive contract says "for a day, Final wins over Late, Late over Early; a product
made with a lesser input is reprocessed when a better one arrives", and its data flow counts "a
newer release of a granule" as new. Near-real-time production uses what exists at 06:00 UTC:
IMERG Early (about 4 h latency) or Late (about 14 h), while IMERG Final arrives about 3.5 months
later (GES DISC, IMERG V07 technical documentation); SMAP L3 is reprocessed under a new Composite
Release ID (``R19240`` -> ``R19250``) or file counter (``_001`` -> ``_002``) from time to time
(SMAP L3 Product Specification, NSIDC).

What a day was made from is read from its published provenance record (``inputs``: product ->
granule ids, the same ids the run ledger keeps); what the source offers now comes from the
granule source (archive or Earthdata). The decision itself (:func:`find_updates`) is pure: it
compares the two with the selection rules of :mod:`smprod.inputs.granules`, slot by slot:

- a slot the day used (an IMERG day D-2..D, a SMAP day D-8..D) now has a higher-ranked
  granule: e.g. ``3B-DAY.MS.MRG...`` (Final) where the day used ``3B-DAY-L...`` (Late);
- a slot the day needed but found empty (an IMERG day, a SMAP lag day) now has a granule.

Only SMAP and IMERG are watched (:data:`WATCHED_FAMILIES`): MODIS Collection 6.1 tiles are not
re-released day by day; a new MODIS collection is a campaign for ``smprod backfill``. Granules
the ledger holds as quarantined are ignored, otherwise a corrupt upstream copy would make the
same day "improve" on every check.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from smprod.inputs.dayfiles import LAG_DAYS, PRECIP_DAYS
from smprod.inputs.granules import IMERG_PRODUCTS, GranuleName, Slot, parse_granule_name, rank_candidates
from smprod.inputs.sources.base import GranuleQuery, GranuleSource
from smprod.layout import WorkLayout

log = logging.getLogger(__name__)

#: Families whose late improvements trigger reprocessing (module docstring).
WATCHED_FAMILIES = ("SMAP", "IMERG")
#: SMAP days a product day reads: D-8..D (the lagged predictors, ``smprod.inputs.dayfiles.SMAP_LAGS``).
SMAP_DAYS_BACK = LAG_DAYS
#: IMERG days a product day reads: D-2..D (``precip`` and ``precip_3d``, ``smprod.inputs.dayfiles``).
IMERG_DAYS_BACK = PRECIP_DAYS - 1


@dataclass(frozen=True)
class ProducedDay:
    """What a published day was made from.

    Attributes:
        day: the product day.
        coarse_product: ``SPL3SMP`` or ``SPL3SMP_E``.
        inputs: product short name -> granule ids used (the provenance ``inputs``).
    """

    day: date
    coarse_product: str
    inputs: Mapping[str, Sequence[str]]

    @classmethod
    def from_provenance(cls, record: Mapping[str, Any]) -> ProducedDay:
        """From a product's provenance record (the "Products" contract)."""
        return cls(
            day=date.fromisoformat(str(record["day"])),
            coarse_product=str(record["coarse_product"]),
            inputs={k: list(v) for k, v in record.get("inputs", {}).items()},
        )


@dataclass(frozen=True)
class Improvement:
    """One slot of a day for which the source now offers something better than what was used."""

    slot: Slot
    used: str | None
    better: str

    def describe(self) -> str:
        """``<better> replaces <used>`` or ``<better> was missing``, for logs and reports."""
        if self.used is None:
            return f"{self.better} (none was available)"
        return f"{self.better} replaces {self.used}"


@dataclass(frozen=True)
class Update:
    """A produced day to produce again, and why."""

    day: date
    improvements: tuple[Improvement, ...]

    @property
    def reason(self) -> str:
        """Every improvement, ``; ``-separated."""
        return "; ".join(item.describe() for item in self.improvements)


def watched_slots(produced: ProducedDay) -> set[Slot]:
    """The SMAP and IMERG slots the day reads, used or not (see :attr:`GranuleName.slot`)."""
    smap = {
        (produced.coarse_product, "", produced.day - timedelta(days=back))
        for back in range(SMAP_DAYS_BACK + 1)
    }
    imerg = {("IMERG", "", produced.day - timedelta(days=back)) for back in range(IMERG_DAYS_BACK + 1)}
    return smap | imerg


def used_by_slot(produced: ProducedDay) -> dict[Slot, GranuleName]:
    """The watched granules the day was made from, by slot (unparseable ids are skipped)."""
    used: dict[Slot, GranuleName] = {}
    for names in produced.inputs.values():
        for name in names:
            granule = parse_granule_name(name)
            if granule is not None and granule.family in WATCHED_FAMILIES:
                used[granule.slot] = granule
    return used


def improvements(
    produced: ProducedDay, offered: Iterable[GranuleName], exclude: Collection[str] = ()
) -> list[Improvement]:
    """The slots of ``produced`` where ``offered`` has a better granule than the one used.

    Args:
        produced: what the day was made from.
        offered: every granule the source offers now (all releases and runs).
        exclude: granule ids never to count (quarantined ones).
    """
    used = used_by_slot(produced)
    slots = watched_slots(produced) | set(used)
    best = rank_candidates(g for g in offered if g.slot in slots and g.name not in exclude)
    found = []
    for slot in sorted(best):
        candidate, current = best[slot][0], used.get(slot)
        if current is None or candidate.rank > current.rank:
            found.append(Improvement(slot, current.name if current else None, candidate.name))
    return found


def find_updates(
    produced: Iterable[ProducedDay], offered: Iterable[GranuleName], exclude: Collection[str] = ()
) -> list[Update]:
    """The produced days (in day order) that have at least one :class:`Improvement`."""
    offered = list(offered)
    updates = []
    for day in sorted(produced, key=lambda p: p.day):
        found = improvements(day, offered, exclude)
        if found:
            updates.append(Update(day.day, tuple(found)))
    return updates


# ------------------------------------------------------------------------------------------ IO


def produced_days(layout: WorkLayout, since: date | None = None) -> list[ProducedDay]:
    """The published days (from their provenance records) on or after ``since``, in day order.

    A provenance record that cannot be parsed is logged and skipped: ``smprod product check``
    is the tool that reports broken days.
    """
    days = []
    for path in sorted((layout.root / "products").glob("*/*/*/*_provenance.json")):
        try:
            produced = ProducedDay.from_provenance(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("%s: unreadable provenance record, skipped (%s)", path, err)
            continue
        if since is None or produced.day >= since:
            days.append(produced)
    return sorted(days, key=lambda p: p.day)


def offered_granules(
    source: GranuleSource, produced: Sequence[ProducedDay], bbox: tuple[float, float, float, float]
) -> list[GranuleName]:
    """Every SMAP and IMERG granule the source offers for the days ``produced`` reads."""
    if not produced:
        return []
    first = min(p.day for p in produced) - timedelta(days=max(SMAP_DAYS_BACK, IMERG_DAYS_BACK))
    last = max(p.day for p in produced)
    products = tuple(sorted({p.coarse_product for p in produced})) + tuple(IMERG_PRODUCTS.values())
    return [ref.granule for ref in source.find(GranuleQuery(products, first, last, bbox))]


def find_reprocessing(
    layout: WorkLayout,
    source: GranuleSource,
    bbox: tuple[float, float, float, float],
    since: date | None = None,
    exclude: Collection[str] = (),
) -> list[Update]:
    """The published days on or after ``since`` whose inputs improved since they were produced.

    Args:
        layout: the work directory holding the products.
        source: where granules come from now (archive or Earthdata).
        bbox: the region (lon/lat) for the source query.
        since: first product day to consider (None: every published day).
        exclude: granule ids to ignore (the ledger's quarantined granules).
    """
    produced = produced_days(layout, since)
    return find_updates(produced, offered_granules(source, produced, bbox), exclude)
