"""``smprod ingest``: fill the granule ledger and write one day's gridded inputs (wiring only)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from flows.commands._options import (
    ArchiveOpt,
    BBoxOpt,
    ConfigOpt,
    WorkdirOpt,
    claim_workdir,
    settings_from_cli,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from smprod.config import Settings
    from smprod.inputs.ingest import IngestReport
    from smprod.inputs.sources.base import GranuleSource

DateOpt = Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Product day, YYYY-MM-DD.")]
DatabaseOpt = Annotated[
    str | None, typer.Option("--database-url", help="PostgreSQL URL of the ledger (SMPROD_DATABASE_URL).")
]
EarthdataOpt = Annotated[
    bool | None,
    typer.Option(
        "--earthdata/--no-earthdata", help="Download missing granules from Earthdata (SMPROD_EARTHDATA)."
    ),
]


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)


def ingest(
    date: DateOpt,
    archive: ArchiveOpt = None,
    bbox: BBoxOpt = None,
    workdir: WorkdirOpt = None,
    database_url: DatabaseOpt = None,
    earthdata: EarthdataOpt = None,
    config: ConfigOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Ingest even if the day's inputs are current.")
    ] = False,
) -> None:
    """Find, fetch, check and grid the granules of one day into <workdir>/inputs/YYYY/MM/DD/."""
    from smprod.grids.ease import region_from_bbox
    from smprod.inputs.ingest import ingest_day
    from smprod.layout import WorkLayout

    settings = settings_from_cli(
        config,
        workdir=workdir,
        archive=archive,
        bbox=bbox,
        database_url=database_url,
        earthdata=earthdata,
    )
    claim_workdir(settings)  # before anything starts or is written
    engine = _ledger_engine(settings)
    region = region_from_bbox(settings.bbox, coarse_km=settings.coarse_km)
    report = ingest_day(
        date.date(),
        region,
        settings.coarse_product,
        _source(settings),
        WorkLayout(settings.workdir),
        engine,
        force,
        use_sif=settings.use_sif,
    )
    _print_report(report)


def _ledger_engine(settings: Settings) -> Engine:
    """The ledger's database, checked to answer.

    Unset: the embedded stack's PostgreSQL (started if it is down), as for every command;
    given: only that one (ingest needs no MLflow, so nothing embedded is started).
    """
    from flows.services import resolve_endpoints
    from smprod import db
    from smprod.secrets import plain

    engine = db.make_engine(plain(settings.database_url) or resolve_endpoints(settings).database_url)
    db.check_connection(engine)
    return engine


def _source(settings: Settings) -> GranuleSource:
    """Earthdata (downloading into the archive) when configured, else the archive alone."""
    from smprod.inputs.sources import ArchiveSource

    if settings.earthdata:
        from smprod.inputs.sources.earthdata import EarthdataSource

        return EarthdataSource(settings.archive_dir)
    return ArchiveSource(settings.archive_dir)


def _print_report(report: IngestReport) -> None:
    used = sum(len(v) for v in report.inputs.values())
    if report.reused:
        typer.echo(f"{report.day} is current (same granules, static layers and version): kept")
    typer.echo(f"ingested {report.day}: {report.fine} and {report.coarse} from {used} granule(s)")
    typer.echo(f"  SMAP release {report.smap_release}, IMERG run {report.precip_run or 'none'}")
    for name, reason in sorted(report.quarantined.items()):
        typer.echo(f"  quarantined {name}: {reason}")
    for what in report.missing:
        typer.echo(f"  missing {what}")
