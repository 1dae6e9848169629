"""The training window: its days, which of them still need ingesting, and ingesting them.

A model is trained on the coarse samples of the ``window_days`` days ending on a day (design,
"Data flow" 5). On a new work directory none of those days has gridded inputs yet, so training
first ingests the days that are missing (**cold start**): :func:`plan_window` decides, without
any IO, which days to ingest and which to skip because the source has no coarse SMAP granule
for them (a day without SMAP has no training sample, and ingest would refuse it);
:func:`ingest_window` carries the plan out with :func:`smprod.inputs.ingest.ingest_day`, from whatever
source it is given (the archive, or Earthdata, which downloads into it). A day whose SMAP granule
turns out to be unusable (every copy quarantined) is skipped with its reason, like a day
without SMAP; any other failure (database, settings) stops the window.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy.engine import Engine

from smprod.errors import MissingInputError
from smprod.grids.ease import Region
from smprod.inputs.dayfiles import SIF, InputStore
from smprod.inputs.ingest import add_sif, ingest_day
from smprod.inputs.sources.base import GranuleQuery, GranuleSource
from smprod.layout import WorkLayout


def training_days(end: date, window_days: int) -> list[date]:
    """The ``window_days`` days ending on ``end`` (both included), oldest first."""
    return [end - timedelta(days=back) for back in range(window_days - 1, -1, -1)]


def reanalysis_blocks(days: Iterable[date], block_days: int) -> list[list[date]]:
    """``days`` (any order; repeats count once) in blocks, oldest first: a block starts at the
    oldest day not yet in one and holds the days up to ``block_days - 1`` days after it. A range
    of days gives blocks of ``block_days`` from its first day (the last one may be shorter); the
    scattered days of a reprocess give a block per cluster. In reanalysis mode each block is
    made with a model of its own, trained on the window around it (:func:`reanalysis_days`).

    Raises:
        ValueError: ``block_days`` below 1.
    """
    if block_days < 1:
        raise ValueError(f"block_days must be at least 1, not {block_days}")
    blocks: list[list[date]] = []
    for day in sorted(set(days)):
        if blocks and (day - blocks[-1][0]).days < block_days:
            blocks[-1].append(day)
        else:
            blocks.append([day])
    return blocks


def reanalysis_days(
    first: date, last: date, window_days: int, latest: date | None = None, exclude_block: bool = False
) -> list[date]:
    """The reanalysis training window of the block ``first``..``last``, oldest first.

    ``window_days`` days centred on the block, the block's own days included (what is left over
    goes half after the block and the rest, the odd day, before it). The window never reaches
    past ``latest`` (the newest day with data, when known): near the present it slides back so
    it keeps ``window_days`` days, and at the end of the record it is the ``window_days`` days
    ending on the block's last day. ``exclude_block``: ``window_days`` days around the block
    without the block's own days (a variant the accuracy suite measures; production includes
    them, ``docs/models.md``).

    Raises:
        ValueError: a block longer than the window (without ``exclude_block``), or ``last``
            before ``first``.
    """
    length = (last - first).days + 1
    if length < 1:
        raise ValueError(f"a block ends ({last}) before it starts ({first})")
    room = None if latest is None else max((latest - last).days, 0)
    if exclude_block:
        after = window_days // 2 if room is None else min(window_days // 2, room)
        before = window_days - after
        return [first - timedelta(days=k) for k in range(before, 0, -1)] + [
            last + timedelta(days=k) for k in range(1, after + 1)
        ]
    if length > window_days:
        raise ValueError(f"a block of {length} days is longer than the {window_days}-day window")
    after = (window_days - length) // 2
    if room is not None:
        after = min(after, room)
    return training_days(last + timedelta(days=after), window_days)


def format_days(days: Iterable[date]) -> str:
    """Days as short ranges: ``2024-04-01..2024-04-30, 2024-05-03`` (``none`` when empty)."""
    runs: list[list[date]] = []
    for day in sorted(set(days)):
        if runs and day - runs[-1][-1] == timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(f"{r[0]}..{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs) or "none"


@dataclass(frozen=True)
class WindowPlan:
    """What a training window needs before it can be trained on.

    Attributes:
        days: every day of the window, oldest first.
        ingested: days that already have gridded inputs.
        to_ingest: days to ingest now (not ingested, coarse SMAP in the source).
        no_smap: days skipped because the source has no coarse SMAP granule for them.
    """

    days: tuple[date, ...]
    ingested: tuple[date, ...]
    to_ingest: tuple[date, ...]
    no_smap: tuple[date, ...]


def plan_window(days: Sequence[date], ingested: Collection[date], smap_days: Collection[date]) -> WindowPlan:
    """Split a window's days into already ingested, to ingest, and without SMAP (pure).

    Args:
        days: the window (:func:`training_days`).
        ingested: days with gridded inputs under the work directory.
        smap_days: days for which the source offers a coarse SMAP granule.
    """
    done = tuple(day for day in days if day in ingested)
    rest = [day for day in days if day not in ingested]
    return WindowPlan(
        days=tuple(days),
        ingested=done,
        to_ingest=tuple(day for day in rest if day in smap_days),
        no_smap=tuple(day for day in rest if day not in smap_days),
    )


@dataclass
class WindowReport:
    """What :func:`ingest_window` did.

    Attributes:
        plan: the plan it carried out.
        coarse_product: the coarse SMAP product of the work directory.
        ingested_now: days ingested by this call.
        skipped: day -> why it was not ingested (a SMAP granule that could not be used).
    """

    plan: WindowPlan
    coarse_product: str
    ingested_now: list[date] = field(default_factory=list)
    skipped: dict[date, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Human-readable notes: one summary line, then one line per kind of skipped day."""
        plan = self.plan
        lines = [
            f"training window {plan.days[0]}..{plan.days[-1]} ({len(plan.days)} days): "
            f"{len(plan.ingested)} already ingested, {len(self.ingested_now)} ingested now, "
            f"{len(plan.no_smap) + len(self.skipped)} skipped"
        ]
        if plan.no_smap:
            lines.append(
                f"  skipped, no {self.coarse_product} granule in the source: {format_days(plan.no_smap)}"
            )
        lines += [f"  skipped {day}: {why}" for day, why in sorted(self.skipped.items())]
        return lines


def smap_days(source: GranuleSource, days: Sequence[date], region: Region, coarse_product: str) -> set[date]:
    """Days of ``days`` for which ``source`` offers a ``coarse_product`` granule (one query)."""
    query = GranuleQuery((coarse_product,), days[0], days[-1], region.fine.lonlat_bounds())
    return {ref.granule.day for ref in source.find(query)}


def _add_missing_sif(
    days: Sequence[date], region: Region, source: GranuleSource, layout: WorkLayout, engine: Engine
) -> None:
    """SIF added to those of ``days`` ingested without it (:func:`smprod.inputs.ingest.add_sif`)."""
    store = InputStore(layout)
    for day in (d for d in days if SIF not in store.record(d, "fine").digests):
        add_sif(day, region, source, layout, engine)


def ingest_window(
    days: Sequence[date],
    region: Region,
    coarse_product: str,
    source: GranuleSource,
    layout: WorkLayout,
    engine: Engine,
    progress: Callable[[str], None] | None = None,
    use_sif: bool = False,
) -> WindowReport:
    """Ingest the days of a training window without gridded inputs (cold start); with ``use_sif``
    (the setting) also the SIF of days ingested without it (:func:`smprod.inputs.ingest.add_sif`).

    Args:
        days: the window, oldest first (:func:`training_days`).
        region, coarse_product: the work directory's region and coarse SMAP product.
        source: where granules come from (archive, or Earthdata downloading into it).
        layout, engine: the work directory and the database holding the granule ledger.
        progress: called with one line per day ingested or skipped (a long window takes minutes).

    Raises:
        DatabaseError: the ledger cannot be written.
    """
    ingested = {day for day in days if InputStore(layout).has(day)}
    plan = plan_window(days, ingested, smap_days(source, days, region, coarse_product))
    report = WindowReport(plan, coarse_product)
    _add_missing_sif(plan.ingested if use_sif else (), region, source, layout, engine)
    for count, day in enumerate(plan.to_ingest, start=1):
        try:
            ingest_day(day, region, coarse_product, source, layout, engine, use_sif=use_sif)
        except MissingInputError as err:  # e.g. every copy of the day's SMAP quarantined
            report.skipped[day] = str(err)
            outcome = f"skipped: {err}"
        else:
            report.ingested_now.append(day)
            outcome = "ingested"
        if progress is not None:
            progress(f"training window: {day} {outcome} ({count}/{len(plan.to_ingest)})")
    return report
