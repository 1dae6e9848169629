"""``smprod series``: a point's soil moisture day by day from the published products (wiring only).

The work happens in :mod:`smprod.access.series`; this command turns settings and options into
its arguments and prints or writes what it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.commands._options import BBoxOpt, ConfigOpt, WorkdirOpt, parse_day, settings_from_cli
from flows.startup import importing

LonOpt = Annotated[float, typer.Option("--lon", help="Longitude of the point, degrees east.")]
LatOpt = Annotated[float, typer.Option("--lat", help="Latitude of the point, degrees north.")]
StartOpt = Annotated[
    str | None, typer.Option("--start", help="First day YYYY-MM-DD; default: 60 days ending on --end.")
]
EndOpt = Annotated[str | None, typer.Option("--end", help="Last day YYYY-MM-DD; default: newest product.")]
CsvOpt = Annotated[Path | None, typer.Option("--csv", help="Also write the rows to this CSV file.")]
PlotOpt = Annotated[Path | None, typer.Option("--plot", help="Also draw the series into this PNG file.")]


def register(app: typer.Typer) -> None:
    app.command("series")(series)


def series(
    lon: LonOpt,
    lat: LatOpt,
    start: StartOpt = None,
    end: EndOpt = None,
    csv: CsvOpt = None,
    plot: PlotOpt = None,
    config: ConfigOpt = None,
    workdir: WorkdirOpt = None,
    bbox: BBoxOpt = None,
) -> None:
    """Soil moisture, uncertainty, QA, SMAP and bilinear SMAP at a point, one line per day."""
    with importing():  # numpy, pyproj, h5py: most of the command's start-up after the settings
        from smprod.access import series as access
        from smprod.errors import ProductError
        from smprod.grids.ease import region_from_bbox
        from smprod.layout import WorkLayout

    first = parse_day(start, "--start") if start else None
    last = parse_day(end, "--end") if end else None
    settings = settings_from_cli(config, workdir=workdir, bbox=bbox)
    region = region_from_bbox(settings.bbox, settings.coarse_km)
    result = access.point_series(WorkLayout(settings.workdir), region, lon, lat, first, last)
    for line in access.series_lines(result):
        typer.echo(line)
    if csv is not None:
        typer.echo(f"csv: {access.write_series_csv(result, csv)}")
    if plot is not None:
        typer.echo(f"plot: {access.plot_series(result, plot)}")
    unreadable = [day.day.isoformat() for day in result.with_status(access.UNREADABLE)]
    if unreadable:
        raise ProductError(
            f"{len(unreadable)} day(s) could not be read ({', '.join(unreadable)}): "
            "`smprod product check DAY` lists what is wrong; rerun those days"
        )
