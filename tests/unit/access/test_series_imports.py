"""``smprod series`` stays a light process: it imports none of the heavy packages.

The command answers one question and exits, so its imports are most of its time (issue 19: under
1 s for 60 days). The test runs it in a new interpreter, as a person would, on real product days,
and lists the top-level packages imported by the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.unit.access.conftest import ACCESS_BBOX, MISSING_DAY, PRODUCT_DAYS

PROJECT_ROOT = Path(__file__).resolve().parents[3]
#: Packages the series must not import (each costs 0.1-1 s of start-up, or drags in more):
#: orchestration, tracking, databases, data frames and labelled arrays, GDAL and netCDF bindings
#: (the pixel and coarse reads need neither for the product files), plotting, serving.
HEAVY = (
    "prefect", "mlflow", "sqlalchemy", "psycopg", "psycopg2", "alembic", "xarray", "pandas",
    "rioxarray", "rasterio", "netCDF4", "scipy", "sklearn", "xgboost", "matplotlib", "PIL", "dask",
    "distributed", "pystac", "pystac_client", "starlette", "fastapi", "uvicorn", "httpx",
    "requests", "earthaccess", "rich",
)  # fmt: skip
#: Run the command like the console script, then print what it imported (on stderr).
SCRIPT = """
import json, sys
from flows.cli import main
try:
    main(sys.argv[1:])
except SystemExit as stop:
    if stop.code:
        raise
sys.stderr.write(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_series_imports_none_of_the_heavy_packages(products) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMPROD_")}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env["SMPROD_BBOX"] = ",".join(str(v) for v in ACCESS_BBOX)
    first, last = PRODUCT_DAYS[0], PRODUCT_DAYS[-1]
    args = ["series", "--lon", "-97.4", "--lat", "35.3", "--start", str(first), "--end", str(last)]
    args += ["--workdir", str(products.layout.root)]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == f"4 days {first} .. {last}: 3 with a product, 1 missing ({MISSING_DAY})"
    imported = set(json.loads(done.stderr.splitlines()[-1]))
    assert {"flows", "smprod", "numpy", "h5py"} <= imported  # the listing is of this run
    assert sorted(imported & set(HEAVY)) == []
