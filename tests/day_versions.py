"""Versions of one small product day whose five files all differ (pixels, model, SMAP release), so a
day made of two versions is told by its checksums: for the tests of the day switch
(``smprod.product.dayswitch``). A 2 x 2 coarse-cell region (``tests.catalog_days.tiny_region``)
keeps a write well under a second.

Run as a script, ``python -m tests.day_versions WORKDIR VERSION`` writes that version (the
child process the fault tests kill).
"""

from __future__ import annotations

import hashlib
import sys
from datetime import date
from pathlib import Path

import numpy as np

from smprod.layout import ProductFiles, WorkLayout
from smprod.product.provenance import ModelInfo, ProductInfo
from smprod.product.write import write_product
from smprod.science.correction import conserve_mass
from tests.catalog_days import tiny_region

DAY = date(2024, 6, 1)


def write_version(workdir: Path, version: int) -> ProductFiles:
    """Write version ``version`` (1 = the old day, 2 = a new SMAP release) of :data:`DAY`."""
    region = tiny_region()
    rng = np.random.default_rng(version)
    smap = rng.uniform(0.1, 0.4, region.coarse.shape)
    model = np.repeat(np.repeat(smap, 36, 0), 36, 1) + rng.normal(0, 0.04, region.fine.shape)
    corrected = conserve_mass(model, smap, region.factor)
    sigma = np.abs(rng.normal(0.03, 0.01, region.fine.shape))
    release = f"R1924{version}_001"
    info = ProductInfo(
        day=DAY,
        region=region,
        model=ModelInfo("smprod-downscaler", str(version), f"run{version:0>6}", "random_forest"),
        inputs={"SPL3SMP": [f"SMAP_L3_SM_P_{DAY:%Y%m%d}_{release}.h5"]},
        coarse_product="SPL3SMP",
        smap_release=release,
        precip_run="Late",
        software={"smprod": "0.1.0", "gdal": "test"},
        parameters={"porosity": 0.5},
    )
    return write_product(WorkLayout(workdir).product_files(DAY), corrected.values, corrected.qa, sigma, info)


def digests(files: ProductFiles) -> dict[str, str | None]:
    """Asset key -> SHA-256 of the file at its published path now (None: absent)."""
    return {
        key: hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
        for key, path in files.assets().items()
    }


if __name__ == "__main__":
    write_version(Path(sys.argv[1]), int(sys.argv[2]))
