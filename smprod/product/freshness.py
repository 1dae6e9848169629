"""When a product day's inputs were observed, and how long after that the day was produced.

Decisions that live here:

* **Observation times come from the granule names** (:attr:`smprod.inputs.granules.GranuleName.period`,
  the one definition of what a granule's data stand for): a SMAP L3, MODIS daily or IMERG daily
  granule covers its UTC day (``00:00:00Z`` to ``23:59:59Z``; the IMERG name says so,
  ``S000000-E235959``), a MOD13A2/MYD13A2 composite its 16 days. MCD12Q1 (yearly land cover)
  and the static layers are maps, not observations of the day: they are listed
  (``land_cover_year``) but never count for the observation period or the latency.
* **Per source** (:func:`input_times`): ``SMAP`` (product, the day's release, the days D-8..D
  read, the day's passes with a retrieval over the region), ``MODIS`` (the days of the daily
  products, the composites' periods, the gap-filling days the product may read: the days of the
  input key, :mod:`smprod.product.produce`), ``IMERG`` (run per day of D-2..D); each with
  ``start``/``end`` in RFC 3339 UTC.
* **Latency** (:func:`latency_hours`) = produced time minus the newest ``end`` of any source, in
  hours (2 decimals). The produced time is when the day's files were written (the provenance
  record's modification time, the STAC item's ``updated``); the library never reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from smprod.inputs.granules import GranuleName, parse_granule_name

#: Sources named in :func:`input_times`, by granule family.
SOURCES = ("SMAP", "MODIS", "IMERG")
#: Products that are maps rather than observations of the day (module docstring).
NOT_OBSERVATIONS = frozenset({"MCD12Q1"})
#: Products whose granule stands for a multi-day period (listed with their period).
COMPOSITES = frozenset({"MOD13A2", "MYD13A2"})


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def day_end(day: date) -> datetime:
    """The last second of the UTC day, as granule time ranges state it."""
    return day_start(day) + timedelta(days=1, seconds=-1)


def _granules(inputs: Mapping[str, Sequence[str]]) -> list[GranuleName]:
    parsed = (parse_granule_name(name) for names in inputs.values() for name in names)
    return sorted((g for g in parsed if g is not None), key=lambda g: (g.day, g.name))


def _period(days: Iterable[date]) -> dict[str, str]:
    days = sorted(days)
    return {"start": rfc3339(day_start(days[0])), "end": rfc3339(day_end(days[-1]))} if days else {}


def _smap(granules: list[GranuleName], day: date, passes: Sequence[str]) -> dict[str, Any]:
    smap = [g for g in granules if g.family == "SMAP"]
    if not smap:
        return {}
    own = [g for g in smap if g.day == day]
    entry: dict[str, Any] = {
        "product": smap[-1].product,
        "days": sorted({g.day.isoformat() for g in smap}),
        "release": own[0].release_id if own else None,
    }
    if passes:
        entry["passes"] = list(passes)
    return {**entry, **_period(g.day for g in smap)}


def _modis(granules: list[GranuleName], gap_filling_days: Iterable[str]) -> dict[str, Any]:
    modis = [g for g in granules if g.family == "MODIS"]
    gap_days = sorted(set(gap_filling_days))
    observed = [g for g in modis if g.product not in NOT_OBSERVATIONS]
    if not modis and not gap_days:
        return {}
    composites = {g.product: [d.isoformat() for d in g.period] for g in observed if g.product in COMPOSITES}
    daily = {g.day for g in observed if g.product not in COMPOSITES}
    entry: dict[str, Any] = {
        "days": sorted(d.isoformat() for d in daily),
        "gap_filling_days": gap_days,
        "composites": dict(sorted(composites.items())),
    }
    land_cover = sorted({g.day.year for g in modis if g.product in NOT_OBSERVATIONS})
    if land_cover:
        entry["land_cover_year"] = land_cover[-1]
    spans = [d for g in observed for d in g.period] + [date.fromisoformat(d) for d in gap_days]
    return {**entry, **_period(spans)}


def _imerg(granules: list[GranuleName]) -> dict[str, Any]:
    imerg = [g for g in granules if g.family == "IMERG"]
    if not imerg:
        return {}
    runs = {g.day.isoformat(): g.run for g in imerg}
    return {"runs": dict(sorted(runs.items())), **_period(g.day for g in imerg)}


def input_times(
    inputs: Mapping[str, Sequence[str]],
    day: date,
    gap_filling_days: Iterable[str] = (),
    smap_passes: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """When the inputs of product ``day`` were observed, per source (module docstring).

    Args:
        inputs: product short name -> granule ids used (the provenance ``inputs``).
        day: the product day.
        gap_filling_days: ISO days whose MODIS fields gap filling may read (the input key's).
        smap_passes: the day's SMAP passes with a retrieval over the region (``AM``, ``PM``).
    """
    granules = _granules(inputs)
    sources = {
        "SMAP": _smap(granules, day, smap_passes),
        "MODIS": _modis(granules, gap_filling_days),
        "IMERG": _imerg(granules),
    }
    return {name: entry for name, entry in sources.items() if entry}


def newest_observation(times: Mapping[str, Mapping[str, Any]]) -> datetime | None:
    """The latest ``end`` over the sources of :func:`input_times` (None without any)."""
    ends = [datetime.fromisoformat(str(entry["end"])) for entry in times.values() if entry.get("end")]
    return max(ends) if ends else None


def latency_hours(produced: datetime, times: Mapping[str, Mapping[str, Any]]) -> float | None:
    """Hours from the newest input observation's end to ``produced`` (None without inputs)."""
    newest = newest_observation(times)
    if newest is None:
        return None
    return round((produced - newest).total_seconds() / 3600, 2)


def record_times(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``input_times`` of a provenance record; for a record written before they existed,
    derived from its ``inputs`` and input-key components (without the SMAP passes)."""
    if record.get("input_times"):
        return dict(record["input_times"])
    components = record.get("parameters", {}).get("input_key_components") or {}
    return input_times(
        record.get("inputs", {}),
        date.fromisoformat(str(record["day"])),
        components.get("gap_filling_days", {}).keys(),
    )
