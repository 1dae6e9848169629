"""``smprod catalog``: check and serve the static STAC catalog (wiring only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.commands._options import BBoxOpt, ConfigOpt, WorkdirOpt, parse_day, settings_from_cli

DayArg = Annotated[str, typer.Argument(help="Product day, YYYY-MM-DD.")]
PathArg = Annotated[
    Path | None,
    typer.Argument(help="Catalog directory or one STAC JSON file (default: <workdir>/catalog)."),
]


def register(app: typer.Typer) -> None:
    catalog_app = typer.Typer(help="The STAC catalog of the products.", no_args_is_help=True)
    catalog_app.command("validate")(validate)
    catalog_app.command("publish")(publish)
    catalog_app.command("serve")(serve)
    app.add_typer(catalog_app, name="catalog")


def validate(
    path: PathArg = None,
    checksums: Annotated[
        bool, typer.Option("--checksums", help="Also check asset sizes and SHA-256 (reads every file).")
    ] = False,
    config: ConfigOpt = None,
    workdir: WorkdirOpt = None,
) -> None:
    """Validate every catalog, collection and item against the vendored STAC schemas (offline)."""
    from catalog.validate import validate_catalog
    from smprod.errors import CatalogError
    from smprod.layout import WorkLayout

    if path is None:
        path = WorkLayout(settings_from_cli(config, workdir=workdir).workdir).catalog
    report = validate_catalog(path, checksums=checksums)
    for problem in report.problems:
        typer.echo(str(problem), err=True)
    if not report.ok:
        files = len({problem.file for problem in report.problems})
        raise CatalogError(
            f"{len(report.problems)} problem(s) in {files} of {report.objects} STAC object(s) under {path}"
        )
    if report.objects == 0:
        raise CatalogError(f"no STAC object under {path}: nothing was published there")
    typer.echo(f"ok: {report.objects} STAC object(s) under {path} are valid STAC 1.1")


def publish(day: DayArg, config: ConfigOpt = None, workdir: WorkdirOpt = None, bbox: BBoxOpt = None) -> None:
    """(Re)publish a produced day's item and the collection from its product files."""
    from catalog.publish import publish_day
    from smprod.grids.ease import region_from_bbox
    from smprod.layout import WorkLayout
    from smprod.secrets import plain
    from smprod.workdir import reading_region

    when = parse_day(day, "day")
    settings = settings_from_cli(config, workdir=workdir, bbox=bbox)
    layout = WorkLayout(settings.workdir)
    configured = region_from_bbox(settings.bbox, coarse_km=settings.coarse_km)
    region = reading_region(layout, configured, settings.coarse_product, bbox is not None)
    path = publish_day(layout, region, when, plain(settings.mlflow_tracking_uri))
    typer.echo(f"published: {path}")


def serve(
    path: PathArg = None,
    port: Annotated[int, typer.Option("--port", help="STAC API port (rustac).")] = 7822,
    browse_port: Annotated[
        int | None,
        typer.Option("--browse-port", help="Files and browse page port (default: --port + 1)."),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Interface for both servers.")] = "127.0.0.1",
    reload_seconds: Annotated[
        float, typer.Option("--reload-seconds", help="Look this often for new days (0: never).")
    ] = 30.0,
    config: ConfigOpt = None,
    workdir: WorkdirOpt = None,
) -> None:
    """Serve the catalog as a STAC API and as files with a browse page, until stopped."""
    import contextlib
    import signal
    import sys

    from catalog.collection import item_files
    from catalog.serve import CatalogServer
    from smprod.layout import WorkLayout

    if path is None:
        path = WorkLayout(settings_from_cli(config, workdir=workdir).workdir).catalog
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # systemd/kill: stop both servers cleanly
    with CatalogServer(path, host=host, port=port, browse_port=browse_port) as server:
        typer.echo(f"STAC API: {server.urls.api}/  ({len(item_files(path))} items)")
        typer.echo(f"Browse: {server.urls.browse}")
        typer.echo(f"Files: {server.urls.files}/catalog/catalog.json")
        typer.echo("Stop with Ctrl-C. Days published meanwhile are picked up (see --reload-seconds).")
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a person stops it
            server.wait(reload_seconds or None)
