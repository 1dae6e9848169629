"""``smprod series`` and ``smprod extract`` through the command line (Typer's CliRunner and main)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import xarray as xr
from typer.testing import CliRunner

from flows.cli import app, main
from tests.unit.access.conftest import ACCESS_BBOX, MISSING_DAY, PRODUCT_DAYS

FIRST, LAST = PRODUCT_DAYS[0], PRODUCT_DAYS[-1]
#: The region comes from the settings, as in production; nothing else from the caller's environment.
ENVIRONMENT = {"SMPROD_BBOX": ",".join(str(v) for v in ACCESS_BBOX), "SMPROD_CONFIG": None}


def test_series_prints_one_line_per_day_and_writes_the_csv(products, tmp_path: Path) -> None:
    csv = tmp_path / "point.csv"
    args = ["series", "--lon", "-97.4", "--lat", "35.3", "--start", str(FIRST), "--end", str(LAST)]
    args += ["--workdir", str(products.layout.root), "--csv", str(csv)]
    result = CliRunner().invoke(app, args, env=ENVIRONMENT)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("point lon -97.4, lat 35.3: 1 km pixel centred at lon -97.4")
    assert [line[:10] for line in lines[2:6]] == [str(FIRST), "2024-06-02", str(MISSING_DAY), str(LAST)]
    assert lines[6] == f"4 days {FIRST} .. {LAST}: 3 with a product, 1 missing ({MISSING_DAY})"
    assert lines[7] == f"csv: {csv}" and len(csv.read_text().splitlines()) == 1 + 4


def test_extract_writes_a_netcdf_and_says_what_it_holds(products, tmp_path: Path) -> None:
    out = tmp_path / "june.nc"
    args = ["extract", "--bbox=-97.6,35.2,-97.3,35.45", "--start", str(FIRST), "--end", str(LAST)]
    args += ["--out", str(out), "--workdir", str(products.layout.root)]
    result = CliRunner().invoke(app, args, env=ENVIRONMENT)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out}: 3 product day(s) {FIRST} .. {LAST}, ")
    assert f"missing (no product): {MISSING_DAY}" in result.output
    with xr.open_dataset(out) as dataset:
        assert dataset.attrs["history"].endswith(f"--format netcdf --out {out}")
        assert dataset.sizes["time"] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["series", "--lon", "2.95", "--lat", "43.15"], "point lon 2.95, lat 43.15 is outside the region"),
        (["extract", "--bbox=2,43,3,44", "--start", "2024-06-01", "--end", "2024-06-02", "--out", "x.nc"],
         "is outside the region"),
        (["extract", "--bbox=-97.6,35.2,-97.3,35.45", "--start", "2024-06-01", "--end", "2024-06-02",
          "--out", "x.zarr", "--format", "zarr"], "needs the Python package 'zarr'"),
        (["extract", "--bbox=-97.6,35.2", "--start", "2024-06-01", "--end", "2024-06-02", "--out", "x.nc"],
         "--bbox '-97.6,35.2': bbox needs 4 numbers"),
    ],
)  # fmt: skip
def test_bad_requests_exit_2_with_the_reason(
    products, monkeypatch, capsys, tmp_path: Path, args: list[str], message: str
) -> None:
    if "zarr" in args and importlib.util.find_spec("zarr") is not None:
        pytest.skip("zarr is installed here")
    monkeypatch.setenv("SMPROD_BBOX", ENVIRONMENT["SMPROD_BBOX"])
    monkeypatch.delenv("SMPROD_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--workdir", str(products.layout.root)])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing written
