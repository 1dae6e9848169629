"""``smprod extract``: an area of many product days as one CF netCDF (or zarr) file (wiring only).

The work happens in :mod:`smprod.access.extract`; this command parses the options, stamps the
``history`` line with the time (the clock is read here, never in the library) and writes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from flows.commands._options import ConfigOpt, WorkdirOpt, parse_day, settings_from_cli

if TYPE_CHECKING:
    import xarray as xr

#: Values of ``--format`` (those of :class:`smprod.access.extract.ExtractFormat`; spelled out so
#: that registering the command does not import the library).
Format = Literal["netcdf", "zarr"]

AreaOpt = Annotated[
    str,
    typer.Option(
        "--bbox",
        help="Area W,S,E,N (minlon,minlat,maxlon,maxlat), degrees; snapped outward to whole 1 km "
        "cells and clipped to the region. The region itself comes from the settings (SMPROD_BBOX).",
    ),
]
StartOpt = Annotated[str, typer.Option("--start", help="First day YYYY-MM-DD.")]
EndOpt = Annotated[str, typer.Option("--end", help="Last day YYYY-MM-DD.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Output file (netCDF) or directory (zarr).")]
FormatOpt = Annotated[Format, typer.Option("--format", help="Output format.")]
LatlonOpt = Annotated[
    bool,
    typer.Option("--latlon", help="Reproject to lon/lat (EPSG:4326): bilinear, nearest for qa."),
]


def register(app: typer.Typer) -> None:
    app.command("extract")(extract)


def extract(
    bbox: AreaOpt,
    start: StartOpt,
    end: EndOpt,
    out: OutOpt,
    fmt: FormatOpt = "netcdf",
    latlon: LatlonOpt = False,
    config: ConfigOpt = None,
    workdir: WorkdirOpt = None,
) -> None:
    """Cut an area out of the product days from --start to --end into one CF dataset."""
    from smprod.access import extract as access
    from smprod.config import BBox
    from smprod.errors import ConfigError
    from smprod.grids.ease import region_from_bbox
    from smprod.layout import WorkLayout

    first, last = parse_day(start, "--start"), parse_day(end, "--end")
    try:
        area = BBox.parse(bbox)
    except ValueError as err:
        raise ConfigError(f"--bbox {bbox!r}: {err}") from err
    output = access.ExtractFormat(fmt)
    access.check_format(output)  # before reading anything
    settings = settings_from_cli(config, workdir=workdir)
    region = region_from_bbox(settings.bbox, settings.coarse_km)
    command = f"smprod extract --bbox {bbox} --start {start} --end {end} --format {fmt} --out {out}"
    history = f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} {command}{' --latlon' if latlon else ''}"
    dataset = access.extract_area(WorkLayout(settings.workdir), region, area, first, last, history, latlon)
    access.write_extract(dataset, out, output)
    typer.echo(_summary(out, dataset, access.area_window(region, area).clipped))


def _summary(out: Path, dataset: xr.Dataset, clipped: bool) -> str:
    days, missing = dataset.attrs["product_days"].split(), dataset.attrs["missing_days"].split()
    crs = dataset.rio.crs.to_string()
    lines = [
        f"wrote {out}: {len(days)} product day(s) {days[0]} .. {days[-1]}, "
        f"{dataset.sizes['y']} x {dataset.sizes['x']} pixels ({crs})",
        f"missing (no product): {', '.join(missing) if missing else 'none'}",
    ]
    if clipped:
        lines.append("the bbox reached beyond the region: cut to it")
    return "\n".join(lines)
