"""Small, real product days for the catalog tests (written by ``smprod.product.write_product``),
and ``smprod catalog serve`` started and stopped as a user does.

A 2 x 2 coarse-cell region (72 x 72 pixels at 1 km) keeps each day to a few tens of kilobytes and
well under a second, while the files are the real COGs, thumbnail and provenance record that
production writes, so the catalog is built from what it will see in operation.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np

from smprod.grids.ease import Region, region_from_bbox
from smprod.layout import ProductFiles, WorkLayout
from smprod.product.provenance import ModelInfo, ProductInfo
from smprod.product.write import write_product
from smprod.science.correction import conserve_mass

PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: Two by two 36 km cells over Oklahoma.
TINY_BBOX = (-97.5, 35.1, -97.2, 35.3)
MODEL_NAME = "smprod-downscaler"


def tiny_region() -> Region:
    region = region_from_bbox(TINY_BBOX, 36)
    assert region.coarse.shape == (2, 2), region.coarse.shape  # the tests' size budget
    return region


def write_day(
    workdir: Path,
    day: date,
    region: Region,
    *,
    model_version: str = "1",
    precip_run: str = "Late",
    smap_release: str = "R19240_001",
    training_mode: str = "near-real-time",
    window: tuple[date, date] | None = None,
) -> ProductFiles:
    """Write one product day under ``workdir`` from seeded random fields (seed = the day);
    ``training_mode`` and ``window``: the model's (:class:`ModelInfo`)."""
    rng = np.random.default_rng(day.toordinal())
    smap = rng.uniform(0.1, 0.4, region.coarse.shape)
    model = np.repeat(np.repeat(smap, 36, 0), 36, 1) + rng.normal(0, 0.04, region.fine.shape)
    model[:5, :7] = np.nan
    corrected = conserve_mass(model, smap, region.factor)
    sigma = np.abs(rng.normal(0.03, 0.01, region.fine.shape))
    info = ProductInfo(
        day=day,
        region=region,
        model=ModelInfo(
            MODEL_NAME, model_version, f"run{model_version:0>6}", "random_forest", training_mode, window
        ),
        inputs={"SPL3SMP": [f"SMAP_L3_SM_P_{day:%Y%m%d}_{smap_release}.h5"]},
        coarse_product="SPL3SMP",
        smap_release=smap_release,
        precip_run=precip_run,
        software={"smprod": "0.1.0", "gdal": "test"},
        parameters={"porosity": 0.5},
    )
    files = WorkLayout(workdir).product_files(day)
    return write_product(files, corrected.values, corrected.qa, sigma, info)


def publish_days(workdir: Path, days: list[date], region: Region) -> None:
    """Write and publish ``days`` (model version 1) into ``<workdir>/catalog``."""
    from catalog.publish import publish_day

    for day in days:
        write_day(workdir, day, region)
        publish_day(WorkLayout(workdir), region, day)


def start_serve(
    workdir: Path, port: int, browse_port: int, *options: str
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start ``smprod catalog serve`` as a user would; return the process and the printed URLs
    (``STAC API``, ``Browse``), read from its first lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMPROD_")}
    env.update(PYTHONPATH=str(PROJECT_ROOT), PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "flows.cli", "catalog", "serve", "--workdir", str(workdir)]
    command += ["--port", str(port), "--browse-port", str(browse_port), *options]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    urls: dict[str, str] = {}
    assert process.stdout is not None
    for line in process.stdout:
        if ":" in line and line.split(":", 1)[0] in {"STAC API", "Browse"}:
            urls[line.split(":", 1)[0]] = line.split(":", 1)[1].split()[0]
        if line.startswith("Stop with"):
            break
    else:
        raise AssertionError(f"smprod catalog serve ended with {process.wait()} before printing its URLs")
    return process, urls


def stop_serve(process: subprocess.Popen[str]) -> int:
    """SIGTERM, as systemd or Ctrl-C would; returns the exit code."""
    process.terminate()
    try:
        return process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
