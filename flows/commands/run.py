"""``smprod run``, ``smprod backfill``, ``smprod reprocess``, ``smprod train``: run the flows once.

Each runs its flow through :func:`flows.supervise.run_flow`: what killed processes left is
cleaned up first, and SIGTERM / Ctrl-C stop at the next safe point (exit 143 / 130).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from flows.commands._options import (
    ArchiveOpt,
    BBoxOpt,
    ConfigOpt,
    WorkdirOpt,
    check_order,
    claim_workdir,
    parse_day,
    settings_from_cli,
)

if TYPE_CHECKING:
    from infra.stack import Endpoints
    from smprod.config import Settings

DayOpt = Annotated[str, typer.Option("--day", help="Product day YYYY-MM-DD.")]
#: ``--reanalysis`` / ``--near-real-time``: the ``training_mode`` setting for this run only.
TrainingModeOpt = Annotated[
    bool | None,
    typer.Option(
        "--reanalysis/--near-real-time",
        help="Train a model per block of days on the window around it, days after them included "
        "(reanalysis), or use the champion (near-real-time); default: the training_mode setting.",
    ),
]


def _training_mode(reanalysis: bool | None) -> str | None:
    from smprod.config import NEAR_REAL_TIME, REANALYSIS

    return None if reanalysis is None else REANALYSIS if reanalysis else NEAR_REAL_TIME


def _prepare(settings: Settings) -> Endpoints:
    """Check the archive and the work directory's region, then resolve the services and point
    Prefect at its API before Prefect is imported; returns the endpoints."""
    from flows.services import resolve_endpoints, use_prefect_api

    claim_workdir(settings)
    endpoints = resolve_endpoints(settings)
    use_prefect_api(endpoints)
    return endpoints


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("backfill")(backfill_command)
    app.command("reprocess")(reprocess)
    app.command("train")(train)


def run(
    day: Annotated[
        str | None, typer.Option("--day", help="Day to produce (default: latest SMAP day).")
    ] = None,
    config: ConfigOpt = None,
    workdir: WorkdirOpt = None,
    archive: ArchiveOpt = None,
    bbox: BBoxOpt = None,
) -> None:
    """Produce one day through the daily flow (ingest, model, produce, publish, validate)."""
    when = parse_day(day, "--day") if day else None
    settings = settings_from_cli(config, workdir=workdir, archive=archive, bbox=bbox)
    endpoints = _prepare(settings)
    from flows.daily import daily
    from flows.supervise import run_flow

    status = run_flow(lambda: daily(day=when, settings=settings), settings, endpoints)
    typer.echo(f"{day or 'latest day'}: {status}")


def backfill_command(
    start: Annotated[str, typer.Option("--start", help="First day YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--end", help="Last day YYYY-MM-DD.")],
    config: ConfigOpt = None,
    workdir: WorkdirOpt = None,
    archive: ArchiveOpt = None,
    bbox: BBoxOpt = None,
    reanalysis: TrainingModeOpt = None,
) -> None:
    """Produce every day from --start to --end in order; failed days are listed (exit 1).

    With --reanalysis (or the setting training_mode = "reanalysis") the days are made in blocks
    of reanalysis_block_days, each with a model trained on the window around the block.
    """
    first, last = parse_day(start, "--start"), parse_day(end, "--end")
    check_order(first, last)
    settings = settings_from_cli(
        config, workdir=workdir, archive=archive, bbox=bbox, training_mode=_training_mode(reanalysis)
    )
    endpoints = _prepare(settings)
    from flows.daily import backfill
    from flows.supervise import run_flow

    outcome = run_flow(lambda: backfill(first, last, settings=settings), settings, endpoints)
    for day, status in outcome.items():
        typer.echo(f"{day}: {status}")
    if any(status.startswith("failed") for status in outcome.values()):
        raise typer.Exit(1)


def reprocess(
    since: Annotated[
        str | None, typer.Option("--since", help="First product day to check (default: all).")
    ] = None,
    config: ConfigOpt = None,
    workdir: WorkdirOpt = None,
    archive: ArchiveOpt = None,
    bbox: BBoxOpt = None,
    reanalysis: TrainingModeOpt = None,
) -> None:
    """Produce again the published days whose inputs improved (IMERG Final, newer SMAP release).

    Prints each reprocessed day with its status and why; exit 1 if any of them failed. With
    --reanalysis (or the setting) they are made as a reanalysis backfill makes them.
    """
    first = parse_day(since, "--since") if since else None
    settings = settings_from_cli(
        config, workdir=workdir, archive=archive, bbox=bbox, training_mode=_training_mode(reanalysis)
    )
    endpoints = _prepare(settings)
    from flows.daily import reprocess_updates
    from flows.supervise import run_flow

    outcome = run_flow(lambda: reprocess_updates(settings, first), settings, endpoints)
    if not outcome:
        typer.echo("no published day has better inputs now")
    for day, status in outcome.items():
        typer.echo(f"{day}: {status}")
    if any(status.startswith("failed") for status in outcome.values()):
        raise typer.Exit(1)


def train(
    end: Annotated[str, typer.Option("--end", help="Last day of the training window.")],
    window_days: Annotated[int | None, typer.Option("--window-days", help="Window length.")] = None,
    config: ConfigOpt = None,
    workdir: WorkdirOpt = None,
    archive: ArchiveOpt = None,
    bbox: BBoxOpt = None,
) -> None:
    """Train on the window ending --end, register a challenger and apply the promotion rule."""
    last = parse_day(end, "--end")  # a typo must not start the stack
    settings = settings_from_cli(
        config, workdir=workdir, archive=archive, bbox=bbox, training_window_days=window_days
    )
    endpoints = _prepare(settings)  # the stack's Prefect server, not a temporary one
    from flows.daily import retrain
    from flows.supervise import run_flow

    typer.echo(run_flow(lambda: retrain(last, settings=settings), settings, endpoints))
