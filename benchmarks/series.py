"""A point's 60-day series: the library, the served API and the ``smprod series`` command, timed.

Usage: python benchmarks/series.py [--workdir DIR] [--days 60] [--repeats 5]

Without ``--workdir`` a work directory of ``--days`` product days on the demo's region (the
default bbox, 10 x 11 cells of 36 km, 360 x 396 pixels) is written first, under a temporary
folder: the real COGs, thumbnail and provenance (:func:`smprod.product.write.write_product`) and
each day's coarse SMAP (``inputs/YYYY/MM/DD/coarse.nc``, which the series reads for SMAP and
bilinear SMAP). With ``--workdir`` (e.g. the demo's ``smprod-work``) its products are read, the
series ending on its newest day.

Three figures, each the median of ``--repeats`` runs at a point in the region's centre:

* ``library_s``: :func:`smprod.access.series.point_series` in this process (warm: after one run);
* ``api_s``: ``GET /query/point`` answered over HTTP by the query routes of ``smprod catalog
  serve`` (:func:`catalog.queries.query_routes` behind :class:`catalog.serve.ApiProxy` under
  uvicorn), request to parsed JSON;
* ``cli_s``: the ``smprod series`` command in a new process, start to exit (Python start-up and
  imports included); ``cli_cpu_s``: that process's CPU time (user + system), which a loaded
  machine does not inflate the way it inflates wall time.

The last line is ``series: days=N products=P library_s=... api_s=... cli_s=... cli_cpu_s=...``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from smprod.access import products_region
from smprod.access.series import point_series
from smprod.config import Settings
from smprod.grids.ease import Region, region_from_bbox, xy_to_lonlat
from smprod.layout import WorkLayout
from smprod.product.provenance import ModelInfo, ProductInfo
from smprod.product.write import write_product

PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: Last day of the written series.
LAST_DAY = date(2024, 6, 30)


def write_days(workdir: Path, region: Region, days: list[date]) -> None:
    """Product days with seeded random fields, and each day's coarse SMAP."""
    import netCDF4

    layout = WorkLayout(workdir)
    for day in days:
        rng = np.random.default_rng(day.toordinal())
        smap = rng.uniform(0.1, 0.4, region.coarse.shape)
        sm = np.repeat(np.repeat(smap, region.factor, 0), region.factor, 1).astype(np.float32)
        sigma = np.abs(rng.normal(0.03, 0.01, region.fine.shape)).astype(np.float32)
        qa = rng.integers(0, 4, region.fine.shape, dtype=np.uint8)
        model = ModelInfo("smprod-downscaler", "1", "run000001", "random_forest", "near-real-time", None)
        info = ProductInfo(
            day=day, region=region, model=model, inputs={}, coarse_product="SPL3SMP",
            smap_release="R19240_001", precip_run="Final", software={}, parameters={},
        )  # fmt: skip
        write_product(layout.product_files(day), sm, qa, sigma, info)
        layout.inputs_dir(day).mkdir(parents=True, exist_ok=True)
        with netCDF4.Dataset(layout.inputs_dir(day) / "coarse.nc", "w") as ds:
            ds.createDimension("y", region.coarse.nrows)
            ds.createDimension("x", region.coarse.ncols)
            ds.createVariable("sm", "f4", ("y", "x"))[:] = smap


def median_seconds(call: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``call`` over ``repeats`` runs, after one run to warm up."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def api_seconds(workdir: Path, query: str, repeats: int) -> float:
    """The served query, request to parsed JSON, over a real socket."""
    from catalog.queries import query_routes
    from catalog.serve import ApiProxy, BackgroundServer

    server = BackgroundServer(ApiProxy(query_routes(workdir)).app, "127.0.0.1", 0, role="api", option="-")
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/query/point?{query}"

        def fetch() -> None:
            with urllib.request.urlopen(url) as response:
                json.loads(response.read())

        return median_seconds(fetch, repeats)
    finally:
        server.stop()


def cli_seconds(
    workdir: Path, lon: float, lat: float, start: date, end: date, repeats: int
) -> tuple[float, float]:
    """``smprod series`` in a new process: median wall time start to exit, and median CPU time."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMPROD_")}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    command = [sys.executable, "-c", "from flows.cli import main; main()", "series"]
    command += [
        "--workdir",
        str(workdir),
        "--lon",
        str(lon),
        "--lat",
        str(lat),
        "--start",
        str(start),
        "--end",
        str(end),
    ]
    if not (workdir / "region.json").exists():
        region = products_region(WorkLayout(workdir))
        command += ["--bbox", ",".join(str(v) for v in region.bbox)]
    cpu_times: list[float] = []

    def run() -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(command, env=env, check=True, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_times.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)

    wall = median_seconds(run, repeats)
    return wall, statistics.median(cpu_times[1:])  # the first run warms up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="an existing work directory (default: write one)")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smprod-series-") as scratch:
        workdir = args.workdir or Path(scratch)
        layout = WorkLayout(workdir)
        if args.workdir is None:
            region = region_from_bbox(Settings().bbox, 36)
            write_days(workdir, region, [LAST_DAY - timedelta(days=n) for n in range(args.days)])
        region = products_region(layout)
        end = layout.product_days()[-1]
        start = end - timedelta(days=args.days - 1)
        centre = region.fine.x[region.fine.ncols // 2], region.fine.y[region.fine.nrows // 2]
        lon, lat = (round(float(v), 4) for v in xy_to_lonlat(*centre))
        series = point_series(layout, region, lon, lat, start, end)
        library = median_seconds(lambda: point_series(layout, region, lon, lat, start, end), args.repeats)
        api = api_seconds(workdir, f"lon={lon}&lat={lat}&start={start}&end={end}", args.repeats)
        cli, cli_cpu = cli_seconds(workdir, lon, lat, start, end, args.repeats)
        products = len(series.with_status("product"))
        print(f"point lon {lon}, lat {lat}; {start} .. {end}; region {region.fine.shape} pixels")
        figures = f"library_s={library:.3f} api_s={api:.3f} cli_s={cli:.3f} cli_cpu_s={cli_cpu:.3f}"
        print(f"series: days={args.days} products={products} {figures}")


if __name__ == "__main__":
    main()
