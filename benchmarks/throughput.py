"""End-to-end production throughput: 1 km features + predict + correct + write, by region size.

Usage: python benchmarks/throughput.py [--sizes 0.25,1,4] [--kinds rf] [--repeats 3] [--work DIR]
       [--subgrid-blends 0.5,0]

For each size (millions of 1 km cells) a square region of whole 36 km cells is simulated and its
gridded inputs written (:mod:`smprod.synthetic.gridded`, the same files ingest writes). One model
per kind is trained on the smallest region's coarse table (as in operations: a model trained on a
window of days, applied to the region), with the sub-grid anomaly model as production fits it
(``--subgrid-blends``: one model per value, 0 the main model alone, labelled ``KIND-0``).
Each size runs in a fresh child process, so its peak
memory (``VmHWM`` of ``/proc/self/status``, which is per process; ``ru_maxrss`` of a child inherits
the parent's high-water mark) is its own. The child times :func:`smprod.product.produce.produce_day`
``--repeats`` times and prints the median. Prints a table: cells, median seconds, million cells
per minute, peak memory, and memory at start (imports, model) for reference; the last line is
``throughput: cells_per_min=X peak_mib=M`` for the default model (kind and blend) at the largest size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smprod.config import DEFAULT_SUBGRID_BLEND, Settings
from smprod.grids.ease import Region, RegionGrid, region_from_bbox
from smprod.inputs.dayfiles import InputStore
from smprod.layout import WorkLayout
from smprod.product.provenance import ModelInfo
from smprod.science.features import PREDICTORS
from smprod.science.models import load_model, make_model
from smprod.science.subgrid import SubgridModel
from smprod.science.training import training_table
from smprod.synthetic.gridded import write_gridded_inputs
from smprod.synthetic.world import simulate

#: The model kind production uses by default (the ``throughput:`` line is for it).
DEFAULT_KIND = Settings().model_kind
#: Upper-left corner of every benchmark region (central United States).
CORNER = (-101.0, 38.0)
START = date(2024, 6, 1)
#: Days simulated per region: the product day needs its D-7 SMAP lag and earlier MODIS days.
NDAYS = 9
DAYS = [START + timedelta(days=k) for k in range(NDAYS)]


def region_of_size(million_cells: float) -> Region:
    """A square region of whole 36 km cells with about ``million_cells`` 1 km cells."""
    anchor = region_from_bbox((CORNER[0], CORNER[1] - 0.1, CORNER[0] + 0.1, CORNER[1]), 36)
    side = max(1, round((million_cells * 1e6) ** 0.5 / 36))
    coarse = RegionGrid(36, anchor.coarse.row0, anchor.coarse.col0, side, side)
    fine = coarse.refine(1)
    return Region(bbox=fine.lonlat_bounds(), coarse=coarse, fine=fine)


def memory_mib(field: str) -> float:
    """A memory figure of this process from ``/proc/self/status`` (``VmRSS``, ``VmHWM``), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def prepare(work: Path, size: float) -> tuple[Region, WorkLayout]:
    """Simulate and write the inputs of the region of ``size`` (reused when already there)."""
    region = region_of_size(size)
    layout = WorkLayout(work / f"size-{size:g}")
    marker = layout.root / "inputs-complete"
    if not marker.exists():
        world = simulate(region, START, NDAYS, seed=1, spinup=3)
        write_gridded_inputs(world, layout, seed=1)
        marker.write_text("ok")
    return region, layout


def train(work: Path, kind: str, smallest: float, subgrid_blend: float = DEFAULT_SUBGRID_BLEND) -> Path:
    """Fit ``kind`` on the smallest region's coarse table, with the sub-grid anomaly model unless
    ``subgrid_blend`` is 0; returns the model directory."""
    directory = work / (f"model-{kind}" if subgrid_blend > 0 else f"model-{kind}-main-only")
    if not (directory / "model.joblib").exists():
        region, layout = prepare(work, smallest)
        table = training_table(DAYS, region, InputStore(layout))
        model = make_model(kind, PREDICTORS).fit(table[list(PREDICTORS)], table["sm"])
        if subgrid_blend > 0:  # as production's fit_calibrated adds it
            model.subgrid = SubgridModel(subgrid_blend).fit(table)
        model.save(directory)
    return directory


def child(work: Path, size: float, model_dir: Path, repeats: int) -> dict[str, float]:
    """Time produce_day for one size in this process; returns seconds and memory figures."""
    from smprod.product.produce import produce_day

    region, layout = prepare(work, size)
    model = load_model(model_dir)
    info = ModelInfo("benchmark", "1", "none", model.kind)
    day = DAYS[-1]
    start_mib = memory_mib("VmRSS")
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        produce_day(day, region, layout, model, info, "SPL3SMP")
        seconds.append(time.perf_counter() - began)
    return {
        "cells": region.fine.nrows * region.fine.ncols,
        "seconds": statistics.median(seconds),
        "all_seconds": seconds,
        "peak_mib": memory_mib("VmHWM"),
        "start_mib": start_mib,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0.25,1,4", help="millions of 1 km cells, comma-separated")
    parser.add_argument("--kinds", default="rf")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--subgrid-blends",
        default=str(DEFAULT_SUBGRID_BLEND),
        help="comma-separated; 0: the main model alone (e.g. 0.5,0 measures the sub-grid model's cost)",
    )
    parser.add_argument("--work", type=Path, default=Path("benchmark-work/throughput"))
    parser.add_argument("--child", nargs=2, metavar=("SIZE", "MODEL_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        figures = child(args.work, float(args.child[0]), Path(args.child[1]), args.repeats)
        print(json.dumps(figures))
        return
    sizes = [float(s) for s in args.sizes.split(",")]
    for size in sizes:
        prepare(args.work, size)
    header = f"{'cells':>10s} {'median s':>9s} {'M cells/min':>12s} {'peak MiB':>9s} {'at start':>9s}  runs"
    print(f"{'model':6s} {header}")
    default = {}
    runs_of = [(kind, float(b)) for kind in args.kinds.split(",") for b in args.subgrid_blends.split(",")]
    for kind, blend in runs_of:
        model_dir = train(args.work, kind, min(sizes), blend)
        label = kind if blend > 0 else f"{kind}-0"
        for size in sorted(sizes):
            command = [sys.executable, __file__, "--work", str(args.work), "--repeats", str(args.repeats)]
            out = subprocess.run(
                [*command, "--child", str(size), str(model_dir)], check=True, capture_output=True, text=True
            ).stdout
            f = json.loads(out.strip().splitlines()[-1])
            rate = f["cells"] / f["seconds"] * 60 / 1e6
            runs = " ".join(f"{s:.2f}" for s in f["all_seconds"])
            print(
                f"{label:6s} {f['cells']:10,d} {f['seconds']:9.2f} {rate:12.2f} {f['peak_mib']:9.0f} "
                f"{f['start_mib']:9.0f}  {runs}",
                flush=True,
            )
            if kind == DEFAULT_KIND and blend == DEFAULT_SUBGRID_BLEND:
                default = f
    if default:  # read by scripts: the default model at the largest size
        rate = default["cells"] / default["seconds"] * 60
        print(f"throughput: cells_per_min={rate:.0f} peak_mib={default['peak_mib']:.0f}")


if __name__ == "__main__":
    main()
