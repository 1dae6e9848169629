"""``smprod product``: inspect the written product files of a day (wiring only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from flows.commands._options import BBoxOpt, ConfigOpt, WorkdirOpt, settings_from_cli

DayArg = Annotated[datetime, typer.Argument(formats=["%Y-%m-%d"], help="Product day, YYYY-MM-DD.")]


def register(app: typer.Typer) -> None:
    product_app = typer.Typer(
        help="The day's product files (COGs, thumbnail, provenance).", no_args_is_help=True
    )
    product_app.command("check")(check)
    app.add_typer(product_app, name="product")


def check(day: DayArg, config: ConfigOpt = None, workdir: WorkdirOpt = None, bbox: BBoxOpt = None) -> None:
    """Check a written day: every file present, valid COGs on the region's grid, checksums match."""
    from smprod.errors import ProductError
    from smprod.grids.ease import region_from_bbox
    from smprod.layout import WorkLayout
    from smprod.product.read import product_problems

    settings = settings_from_cli(config, workdir=workdir, bbox=bbox)
    region = region_from_bbox(settings.bbox, coarse_km=settings.coarse_km)
    files = WorkLayout(settings.workdir).product_files(day.date())
    problems = product_problems(files, region)
    if problems:
        raise ProductError(f"product {day:%Y-%m-%d} has {len(problems)} problem(s): " + "; ".join(problems))
    typer.echo(f"ok: product {day:%Y-%m-%d} in {files.provenance.parent} is complete and valid")
