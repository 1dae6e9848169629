"""One product day from granules to a published STAC item, by region size, each stage timed.

Usage: python benchmarks/day.py [--sizes 1,4,8] [--repeats 3] [--work DIR] [--keep-archives]

For each size (millions of 1 km cells) a rectangular region of whole 36 km cells (about 1.6 : 1,
like the conterminous United States) gets a synthetic archive in the real NASA formats, written
once and reused by later runs: only what the product day needs (SMAP of the day and its lag days
D-8..D, IMERG D-2..D, the MODIS tiles of D and their composites, static layers, stations). The
default model kind is trained once, on the smallest region's training days (ingested once), and
applied to every size: a model's cost per cell does not depend on where it was trained.

Each size then runs in a fresh child process, so its peak memory (``VmHWM``) is its own. The
child runs the stages of the daily flow in order, ``--repeats`` times (the ingest is forced, so
every repeat reads every granule), without Prefect (its overhead is per task, not per cell):

1. ``ingest``: discover, fetch, read, regrid and write the day's input files
   (:func:`smprod.inputs.ingest.ingest_day`, with a PostgreSQL granule ledger);
2. ``produce``: features, prediction, mass correction, COGs, thumbnail, provenance
   (:func:`smprod.product.produce.produce_day`);
3. ``publish``: the STAC item and collection (:func:`catalog.publish.publish_day`);
4. ``validate``: stations, matchups and windowed metrics into PostgreSQL
   (:func:`smprod.validation.pipeline.validate_produced_day`).

Within ``ingest`` the time spent reading and regridding is attributed per granule product
(SMAP, each MODIS product, IMERG, static layers) by timing the readers and regridding functions
ingest calls. Prints a table per size (median seconds per stage, cost per million cells) and the
scaling of time with cells; the last line is
``day: cells=N seconds=S cells_per_min=X peak_mib=M`` for the largest region.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.throughput import memory_mib
from smprod.grids.ease import RegionGrid, region_from_bbox
from smprod.layout import WorkLayout

#: Upper-left corner of every region (the central United States).
CORNER = (-101.0, 45.0)
#: Width : height of the regions (the conterminous United States is about 4500 x 2800 km).
ASPECT = 1.6
#: The product day; the archive holds the days it needs before it (and training days on the
#: smallest region).
DAY = date(2024, 6, 20)
#: SMAP days before the product day its lagged predictors read (D-8..D).
LAG_DAYS = 8
#: Training days of the model (the smallest region only), ending the day before the product day
#: (the last 5 are held out to calibrate sigma, as production does).
TRAINING_DAYS = 15


def region_of_size(million_cells: float) -> tuple[float, float, float, float]:
    """The bbox of a region of whole 36 km cells with about ``million_cells`` 1 km cells."""
    anchor = region_from_bbox((CORNER[0], CORNER[1] - 0.1, CORNER[0] + 0.1, CORNER[1]), 36)
    cells = million_cells * 1e6 / 36**2
    rows = max(1, round((cells / ASPECT) ** 0.5))
    cols = max(1, round(cells / rows))
    coarse = RegionGrid(36, anchor.coarse.row0, anchor.coarse.col0, rows, cols)
    west, south, east, north = coarse.lonlat_bounds()
    # a hair inside the cell edges, so snapping outward gives exactly these cells back
    margin = 1e-6
    return (west + margin, south + margin, east - margin, north - margin)


def archive_days(size: float, smallest: float, training_days: int) -> tuple[date, int]:
    """First day and number of days of the archive of ``size`` (training days on the smallest)."""
    before = LAG_DAYS + (training_days + LAG_DAYS if size == smallest else 0)
    return DAY - timedelta(days=before), before + 1


def archive_dir(work: Path, size: float) -> Path:
    return work / f"size-{size:g}" / "archive"


def prepare_archive(work: Path, size: float, smallest: float, training_days: int = TRAINING_DAYS) -> Path:
    """Write the synthetic archive of ``size`` once (a marker file says it is complete)."""
    from smprod.synthetic.archive import write_archive

    archive = archive_dir(work, size)
    marker = archive / "archive-complete"
    if not marker.exists():
        start, ndays = archive_days(size, smallest, training_days)
        began = time.perf_counter()
        write_archive(archive, start, ndays, region_of_size(size), 36, seed=5)
        marker.write_text(f"{time.perf_counter() - began:.0f} s\n")
    return archive


def database_url(work: Path) -> str:
    """The embedded PostgreSQL of the benchmark (started if needed), migrated."""
    from infra.stack import EmbeddedStack

    stack = EmbeddedStack(work / "stack")
    stack.up_postgres()
    return stack.database_url("smprod")


def train_model(work: Path, smallest: float, url: str, training_days: int = TRAINING_DAYS) -> Path:
    """The default model kind trained on the smallest region's training days (once)."""
    from smprod import db
    from smprod.config import Settings
    from smprod.inputs.dayfiles import InputStore
    from smprod.inputs.ingest import ingest_day
    from smprod.inputs.sources import ArchiveSource
    from smprod.mlops.lifecycle import fit_calibrated, split_holdout
    from smprod.science.training import training_table

    directory = work / "model"
    if (directory / "model.joblib").exists():
        return directory
    archive = prepare_archive(work, smallest, smallest, training_days)
    region = region_from_bbox(region_of_size(smallest), 36)
    layout = WorkLayout(work / "training")
    engine = db.make_engine(url)
    days = [DAY - timedelta(days=k) for k in range(training_days, 0, -1)]
    for day in days:
        ingest_day(day, region, "SPL3SMP", ArchiveSource(archive), layout, engine)
    engine.dispose()
    table = training_table(days, region, InputStore(layout))
    model, _ = fit_calibrated(Settings().model_kind, *split_holdout(table))
    model.save(directory)
    return directory


class StageTimer:
    """Seconds per stage and per granule product, accumulated over one repeat."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - began

    def wrap(self, function: Callable[..., Any], key: Callable[..., str]) -> Callable[..., Any]:
        """``function`` timed under ``key(*args)`` (a granule product, a regridding)."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.stage(key(*args, **kwargs)):
                return function(*args, **kwargs)

        return timed


def _product_of(path: Any, *_: Any, **__: Any) -> str:
    from smprod.inputs.granules import parse_name

    granule = parse_name(Path(path).name)
    return f"read {granule.product}" if granule else "read static layers"


#: What ingest reads and regrids with (it imports them when it runs, so patching the modules
#: times every call): module -> function names.
READERS = {
    "smprod.inputs.readers.smap": ("read_smap_l3", "read_smap_arrays"),
    "smprod.inputs.readers.modis": ("read_modis", "read_modis_window"),
    "smprod.inputs.readers.imerg": ("read_imerg",),
    "smprod.inputs.readers.static": ("read_static",),
}
_REGRIDDERS = ("to_fine", "fields_to_fine", "smap_to_coarse", "smap_arrays_to_coarse", "mosaic")
REGRIDDING = {"smprod.grids.reproject": _REGRIDDERS}


def instrument_ingest(timer: StageTimer) -> None:
    """Time ingest's readers per granule product and its regridding per function."""
    from importlib import import_module

    for module_name, names in READERS.items():
        module = import_module(module_name)
        for name in names:
            setattr(module, name, timer.wrap(getattr(module, name), _product_of))
    for module_name, names in REGRIDDING.items():
        module = import_module(module_name)
        for name in names:
            setattr(module, name, timer.wrap(getattr(module, name), lambda *a, _n=name, **k: f"regrid {_n}"))


def run_day(work: Path, size: float, smallest: float, model_dir: Path, url: str) -> dict[str, float]:
    """One repeat of the day's stages on the region of ``size``; seconds per stage and product."""
    from catalog.publish import publish_day
    from smprod import db
    from smprod.inputs.ingest import ingest_day
    from smprod.inputs.sources import ArchiveSource
    from smprod.product.produce import produce_day
    from smprod.product.provenance import ModelInfo
    from smprod.science.models import load_model
    from smprod.validation.matchups import DayFields
    from smprod.validation.pipeline import validate_produced_day
    from smprod.validation.stations import find_station_files

    archive = archive_dir(work, size)  # written by the parent
    region = region_from_bbox(region_of_size(size), 36)
    layout = WorkLayout(work / f"size-{size:g}" / "work")
    engine = db.make_engine(url)
    timer = StageTimer()
    instrument_ingest(timer)
    model = load_model(model_dir)
    info = ModelInfo("benchmark", "1", "none", model.kind)
    with timer.stage("ingest"):
        ingest_day(DAY, region, "SPL3SMP", ArchiveSource(archive), layout, engine, force=True)
    with timer.stage("produce"):
        product = produce_day(DAY, region, layout, model, info, "SPL3SMP")
    with timer.stage("publish"):
        publish_day(layout, region, DAY)
    fields = DayFields(
        day=DAY,
        corrected=product.corrected,
        model_version=info.version,
        model_run_id=info.run_id,
        coarse_sm=product.coarse_sm,
        uncorrected=product.uncorrected,
        precip=product.precip,
    )
    with timer.stage("validate"):
        validate_produced_day(engine, region, find_station_files(archive), fields, (30,), 3)
    engine.dispose()
    return {"cells": float(region.fine.nrows * region.fine.ncols), **timer.seconds}


STAGES = ("ingest", "produce", "publish", "validate")


def child(work: Path, size: float, smallest: float, model_dir: Path, url: str, repeats: int) -> dict:
    """Every repeat of one size in this process: medians per key and the peak memory."""
    runs = [run_day(work, size, smallest, model_dir, url) for _ in range(repeats)]
    keys = sorted({k for run in runs for k in run if k != "cells"})
    medians = {k: statistics.median(run.get(k, 0.0) for run in runs) for k in keys}
    totals = [sum(run[s] for s in STAGES) for run in runs]
    return {
        "cells": runs[0]["cells"],
        "median": medians,
        "total": statistics.median(totals),
        "totals": totals,
        "peak_mib": memory_mib("VmHWM"),
    }


def print_size(f: dict) -> None:
    cells = f["cells"]
    per_m = 1e6 / cells
    print(f"\n{cells:,.0f} cells: {f['total']:.1f} s median ({', '.join(f'{t:.1f}' for t in f['totals'])})"
          f", {cells / f['total'] * 60 / 1e6:.2f} M cells/min, peak {f['peak_mib']:.0f} MiB")  # fmt: skip
    print(f"  {'stage':28s} {'median s':>9s} {'s per M cells':>14s}")
    for key in (*STAGES, *(k for k in f["median"] if k not in STAGES)):
        seconds = f["median"].get(key, 0.0)
        indent = "    " if key not in STAGES else "  "
        print(f"{indent}{key:28s} {seconds:9.2f} {seconds * per_m:14.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,8", help="millions of 1 km cells, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("benchmark-work/day"))
    parser.add_argument(
        "--training-days",
        type=int,
        default=TRAINING_DAYS,
        help="model training days (the last 5 calibrate sigma; CI: 8)",
    )
    parser.add_argument(
        "--child", nargs=4, metavar=("SIZE", "SMALLEST", "MODEL", "URL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        size, smallest, model_dir, url = args.child
        figures = child(args.work, float(size), float(smallest), Path(model_dir), url, args.repeats)
        print(json.dumps(figures))
        return
    sizes = sorted(float(s) for s in args.sizes.split(","))
    url = database_url(args.work)
    for size in sizes:
        prepare_archive(args.work, size, sizes[0], args.training_days)
    model_dir = train_model(args.work, sizes[0], url, args.training_days)
    results = []
    for size in sizes:
        command = [sys.executable, __file__, "--work", str(args.work), "--repeats", str(args.repeats)]
        out = subprocess.run(
            [*command, "--child", str(size), str(sizes[0]), str(model_dir), url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
        print_size(results[-1])
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(f"\nscaling: {last['cells'] / first['cells']:.1f} x cells -> "
              f"{last['total'] / first['total']:.1f} x time")  # fmt: skip
    last = results[-1]
    rate = last["cells"] / last["total"] * 60
    print(f"day: cells={last['cells']:.0f} seconds={last['total']:.1f} "
          f"cells_per_min={rate:.0f} peak_mib={last['peak_mib']:.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
