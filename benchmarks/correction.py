"""Speed and memory of mass correction + product writing at 0.25, 1 and 4 million 1 km pixels.

Run from the project root::

    PYTHONPATH=$PWD python benchmarks/correction.py [--repeats 3]

For each size it prints the median wall time of :func:`smprod.science.correction.conserve_mass` and of
:func:`smprod.product.write_product` (three COGs, thumbnail, provenance), the 1 km cells per
second of both together, the peak of numpy/Python allocations during the step (tracemalloc) and
the process's peak resident memory so far (getrusage; sizes run in increasing order, so it is the
peak of the largest size run yet, GDAL buffers included). Fields are synthetic but shaped like
soil moisture (smooth coarse pattern, 1 km noise, 5% gaps, a few infeasible cells) so that
compression and clipping do realistic work.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path

import numpy as np

from smprod.grids.ease import Region, RegionGrid
from smprod.layout import WorkLayout
from smprod.product.provenance import ModelInfo, ProductInfo, software_versions
from smprod.product.write import write_product
from smprod.science.correction import conserve_mass

#: Coarse (36 km) cells per side -> 1 km pixels: 14 -> 0.25 M, 28 -> 1.0 M, 56 -> 4.1 M.
SIDES = (14, 28, 56)
DAY = date(2024, 6, 1)


def make_region(side: int) -> Region:
    """A square region of ``side`` x ``side`` 36 km cells over the central US."""
    coarse = RegionGrid(36, 70, 240, side, side)
    return Region(bbox=coarse.lonlat_bounds(), coarse=coarse, fine=coarse.refine(1))


def make_fields(region: Region, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows, cols = region.coarse.shape
    yy, xx = np.meshgrid(np.linspace(0, 3, rows), np.linspace(0, 3, cols), indexing="ij")
    smap = 0.25 + 0.15 * np.sin(xx) * np.cos(yy) + rng.normal(0, 0.02, (rows, cols))
    smap[rng.random(smap.shape) < 0.05] = np.nan
    smap[0, :2] = 0.55  # above the default porosity: infeasible, clipped and flagged
    f = region.factor
    trend = np.repeat(np.repeat(np.nan_to_num(smap, nan=0.25), f, 0), f, 1)
    model = trend + rng.normal(0, 0.05, region.fine.shape)
    model[rng.random(model.shape) < 0.05] = np.nan
    sigma = np.abs(rng.normal(0.035, 0.01, region.fine.shape))
    return model, smap, sigma


def timed(step, repeats: int) -> tuple[float, int, object]:  # type: ignore[no-untyped-def]
    times, peak, result = [], 0, None
    for _ in range(repeats):
        tracemalloc.start()
        start = time.perf_counter()
        result = step()
        times.append(time.perf_counter() - start)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return statistics.median(times), peak, result


def bench(side: int, repeats: int, workdir: Path) -> dict[str, float]:
    region = make_region(side)
    model, smap, sigma = make_fields(region)
    info = ProductInfo(
        DAY,
        region,
        ModelInfo("bench", "1", "none", "none"),
        {},
        "SPL3SMP",
        "R0",
        "Final",
        software_versions(),
    )
    files = WorkLayout(workdir).product_files(DAY)
    t_corr, mem_corr, corrected = timed(lambda: conserve_mass(model, smap, region.factor), repeats)
    t_write, mem_write, _ = timed(
        lambda: write_product(files, corrected.values, corrected.qa, sigma, info),  # type: ignore[attr-defined]
        repeats,
    )
    return {
        "pixels": model.size,
        "correct_s": t_corr,
        "write_s": t_write,
        "cells_per_s": model.size / (t_corr + t_write),
        "residual": corrected.max_feasible_residual(),  # type: ignore[attr-defined]
        "tracemalloc_mib": max(mem_corr, mem_write) / 2**20,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "sm_mib": files.soil_moisture.stat().st_size / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    header = (
        f"{'pixels':>10} {'correct s':>10} {'write s':>9} {'cells/s':>11} {'max resid':>10} "
        f"{'peak alloc MiB':>15} {'peak RSS MiB':>13} {'sm COG MiB':>11}"
    )
    print(f"median of {args.repeats} repeats")
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for side in SIDES:
            r = bench(side, args.repeats, Path(tmp) / str(side))
            speed = f"{r['correct_s']:>10.3f} {r['write_s']:>9.3f} {r['cells_per_s']:>11,.0f}"
            memory = f"{r['tracemalloc_mib']:>15.0f} {r['maxrss_mib']:>13.0f} {r['sm_mib']:>11.1f}"
            print(f"{r['pixels']:>10,d} {speed} {r['residual']:>10.1e} {memory}")


if __name__ == "__main__":
    main()
