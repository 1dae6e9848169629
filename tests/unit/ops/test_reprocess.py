"""The reprocessing decision: which produced days have better inputs now, and why."""

from __future__ import annotations

import json
from datetime import date, timedelta

from smprod.inputs.granules import parse_granule_name
from smprod.layout import WorkLayout
from smprod.ops.reprocess import (
    ProducedDay,
    find_updates,
    improvements,
    produced_days,
    watched_slots,
)

DAY = date(2024, 6, 20)


def _smap(day: date, release: str = "R19240", counter: int = 1, e: bool = False) -> str:
    return f"SMAP_L3_SM_P_{'E_' if e else ''}{day:%Y%m%d}_{release}_{counter:03d}.h5"


def _imerg(day: date, run: str, version: str = "V07B") -> str:
    prefix = {"Final": "3B-DAY", "Late": "3B-DAY-L", "Early": "3B-DAY-E"}[run]
    return f"{prefix}.MS.MRG.3IMERG.{day:%Y%m%d}-S000000-E235959.{version}.nc4"


def _days_back(n: int, day: date = DAY) -> list[date]:
    return [day - timedelta(days=back) for back in range(n + 1)]


def _produced(day: date = DAY, runs: tuple[str, str, str] = ("Late", "Final", "Final")) -> ProducedDay:
    """A day made from SMAP R19240_001 on D-8..D and IMERG of ``runs`` on D, D-1, D-2."""
    imerg = [_imerg(d, run) for d, run in zip(_days_back(2, day), runs, strict=True)]
    return ProducedDay(
        day,
        "SPL3SMP",
        {
            "SPL3SMP": [_smap(d) for d in _days_back(8, day)],
            "GPM_3IMERGDF": [n for n in imerg if n.startswith("3B-DAY.")],
            "GPM_3IMERGDL": [n for n in imerg if n.startswith("3B-DAY-L")],
            "MOD11A1": ["MOD11A1.A2024172.h10v05.061.2024173000000.hdf"],
        },
    )


def _offered(*names: str) -> list:
    return [parse_granule_name(n) for n in names]


def _same_as_used(produced: ProducedDay) -> list[str]:
    return [n for names in produced.inputs.values() for n in names]


def test_nothing_new_means_no_update():
    produced = _produced()
    offered = _offered(*_same_as_used(produced), _imerg(DAY, "Early"))  # a lesser run is no news
    assert find_updates([produced], offered) == []


def test_imerg_final_replacing_late_is_an_update_naming_both():
    produced = _produced()
    offered = _offered(*_same_as_used(produced), _imerg(DAY, "Final"))
    [update] = find_updates([produced], offered)
    assert update.day == DAY
    [item] = update.improvements
    assert (item.used, item.better) == (_imerg(DAY, "Late"), _imerg(DAY, "Final"))
    assert update.reason == f"{_imerg(DAY, 'Final')} replaces {_imerg(DAY, 'Late')}"


def test_newer_smap_release_or_counter_on_a_lag_day_is_an_update():
    produced = _produced()
    lag_day = DAY - timedelta(days=7)
    for newer in (_smap(lag_day, counter=2), _smap(lag_day, release="R19250")):
        [update] = find_updates([produced], _offered(*_same_as_used(produced), newer))
        assert [(i.used, i.better) for i in update.improvements] == [(_smap(lag_day), newer)]


def test_older_release_or_other_resolution_is_not_an_update():
    produced = ProducedDay(DAY, "SPL3SMP", {"SPL3SMP": [_smap(DAY, "R19240", 2)]})
    offered = _offered(_smap(DAY, "R19240", 2), _smap(DAY, "R18290", 9), _smap(DAY, "R19250", 1, e=True))
    assert improvements(produced, offered) == []


def test_a_slot_missing_at_production_that_is_filled_now_is_an_update():
    produced = _produced()
    produced.inputs["GPM_3IMERGDF"].remove(_imerg(DAY - timedelta(days=2), "Final"))
    [item] = improvements(produced, _offered(*_same_as_used(_produced())))
    assert (item.used, item.better) == (None, _imerg(DAY - timedelta(days=2), "Final"))
    assert "none was available" in item.describe()


def test_granules_outside_the_days_reads_are_ignored():
    produced = _produced()
    outside = [_imerg(DAY - timedelta(days=3), "Final"), _smap(DAY - timedelta(days=9), "R19250"),
               _imerg(DAY + timedelta(days=1), "Final")]  # fmt: skip
    assert find_updates([produced], _offered(*_same_as_used(produced), *outside)) == []
    assert ("IMERG", "", DAY - timedelta(days=3)) not in watched_slots(produced)
    assert ("SPL3SMP", "", DAY - timedelta(days=8)) in watched_slots(produced)


def test_quarantined_granules_never_count():
    produced = _produced()
    final = _imerg(DAY, "Final")
    assert find_updates([produced], _offered(*_same_as_used(produced), final), exclude={final}) == []


def test_updates_are_per_day_in_day_order():
    later, earlier = _produced(DAY), _produced(DAY - timedelta(days=5), runs=("Final",) * 3)
    offered = _offered(*_same_as_used(later), *_same_as_used(earlier), _imerg(DAY, "Final"))
    # D's Final improves D only; D-5 reads D-7..D-5 for IMERG, already Final.
    assert [u.day for u in find_updates([later, earlier], offered)] == [DAY]
    offered += _offered(_smap(DAY - timedelta(days=5), counter=2))  # read by both days
    assert [u.day for u in find_updates([later, earlier], offered)] == [DAY - timedelta(days=5), DAY]


def test_produced_days_reads_provenance_records_since(tmp_path):
    layout = WorkLayout(tmp_path)
    for day in (DAY - timedelta(days=1), DAY):
        files = layout.product_files(day)
        files.provenance.parent.mkdir(parents=True)
        record = {"day": day.isoformat(), "coarse_product": "SPL3SMP", "inputs": _produced(day).inputs}
        files.provenance.write_text(json.dumps(record))
    broken = layout.product_files(DAY + timedelta(days=1)).provenance
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    assert [p.day for p in produced_days(layout)] == [DAY - timedelta(days=1), DAY]
    [only] = produced_days(layout, since=DAY)
    assert only == _produced(DAY)
