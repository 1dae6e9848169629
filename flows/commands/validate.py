"""``smprod validate``: in situ validation of the published products (wiring only).

The work happens in :func:`smprod.validation.pipeline.run_validation`; this command turns
settings and options into its arguments, prints the table, writes the plots and logs the
summary and the triple-collocation errors to MLflow.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flows.commands._options import (
    ArchiveOpt,
    BBoxOpt,
    ConfigOpt,
    WorkdirOpt,
    check_order,
    parse_day,
    settings_from_cli,
)

if TYPE_CHECKING:
    from smprod.config import Settings
    from smprod.grids.ease import Region
    from smprod.layout import WorkLayout
    from smprod.validation.pipeline import ValidationRun

StartOpt = Annotated[
    str | None,
    typer.Option("--start", help="First day to match (YYYY-MM-DD); default: longest window before --end."),
]
EndOpt = Annotated[
    str | None,
    typer.Option("--end", help="Last day to match, metrics computed for it; default: newest product."),
]
NoMlflowOpt = Annotated[bool, typer.Option("--no-mlflow", help="Do not log the summary to MLflow.")]


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)


def validate(
    start: StartOpt = None,
    end: EndOpt = None,
    no_mlflow: NoMlflowOpt = False,
    config: ConfigOpt = None,
    workdir: WorkdirOpt = None,
    archive: ArchiveOpt = None,
    bbox: BBoxOpt = None,
) -> None:
    """Match stations to the products, store metrics in PostgreSQL, print them, plot, log."""
    from smprod import db
    from smprod.inputs.sources.archive import require_archive
    from smprod.layout import WorkLayout
    from smprod.validation import pipeline, report, stations

    settings = settings_from_cli(config, workdir=workdir, archive=archive, bbox=bbox)
    layout = WorkLayout(settings.workdir)
    region = _region(settings, layout, bbox is not None)
    require_archive(settings.archive_dir)  # the station files are read from it
    first, last = _day_range(start, end, layout, settings.validation_windows)
    database_url, tracking_uri = _endpoints(settings)
    run = pipeline.run_validation(
        db.make_engine(database_url),
        layout,
        region,
        stations.find_station_files(settings.archive_dir),
        first,
        last,
        settings.validation_windows,
        settings.validation_min_n,
    )
    typer.echo(_summary(run, first, last))
    typer.echo(report.format_table(run.metrics))
    typer.echo(report.format_collocation(run.collocation))
    plots = _plots(run, layout.validation_dir(last), database_url, first, last, settings.validation_windows)
    for plot in plots:
        typer.echo(f"plot: {plot}")
    if tracking_uri and not no_mlflow:
        _log_summaries(tracking_uri, settings, layout, run, last, plots)


def _region(settings: Settings, layout: WorkLayout, bbox_given: bool) -> Region:
    """The region of the work directory's products (:func:`smprod.workdir.reading_region`)."""
    from smprod.grids.ease import region_from_bbox
    from smprod.workdir import reading_region

    configured = region_from_bbox(settings.bbox, settings.coarse_km)
    return reading_region(layout, configured, settings.coarse_product, bbox_given)


def _log_summaries(
    tracking_uri: str,
    settings: Settings,
    layout: WorkLayout,
    run: ValidationRun,
    last: date,
    plots: list[Path],
) -> None:
    """One MLflow run per validated model version, with the metrics, plots and TC errors."""
    from smprod.validation import report

    for version in sorted({r["model_version"] for r in run.metrics}):
        run_id = report.log_summary(
            tracking_uri, settings.model_name, version, run.metrics, last, plots,
            artifact_location=(layout.stack / "mlflow-artifacts").as_uri(),
            collocation=run.collocation,
        )  # fmt: skip
        typer.echo(f"mlflow: run {run_id} for {settings.model_name} v{version}")


def _day_range(
    start: str | None, end: str | None, layout: WorkLayout, windows: tuple[int, ...]
) -> tuple[date, date]:
    """(first, last) day to match: the options, else the newest product and the longest window."""
    from smprod.errors import MissingInputError
    from smprod.validation import pipeline

    if end is None:
        published = pipeline.published_days(layout)
        if not published:
            raise MissingInputError(
                f"no published product under {layout.root / 'products'}; run production first"
            )
    last = parse_day(end, "--end") if end else published[-1]
    first = parse_day(start, "--start") if start else last - timedelta(days=max(windows) - 1)
    check_order(first, last, "--start", "--end" if end else "--end (the newest product day)")
    return first, last


def _endpoints(settings: Settings) -> tuple[str, str | None]:
    """Database URL and MLflow tracking URI: configured ones, else the embedded stack's."""
    from smprod.secrets import plain

    if settings.database_url:
        return settings.database_url.get_secret_value(), plain(settings.mlflow_tracking_uri)
    from flows.services import resolve_endpoints

    endpoints = resolve_endpoints(settings)  # the embedded stack, started on demand
    return endpoints.database_url, endpoints.mlflow_tracking_uri


def _summary(run: ValidationRun, first: date, last: date) -> str:
    ingest = run.ingest
    assert ingest is not None, "run_validation ingests the stations first"
    lines = [
        f"validation {first} .. {last}: {len(run.days_matched)} product days matched, "
        f"{len(run.days_without_product)} without product, {run.matchup_rows} matchup rows rewritten "
        "from the product files (rows of the uncorrected model, which production records and does "
        "not publish, are kept)",
        f"stations: {ingest.stations} ingested ({ingest.days} station-days), "
        f"{len(ingest.skipped_deep)} deeper than 5 cm, {len(ingest.skipped_no_good)} without a "
        f"good (G) value, {len(ingest.bad_files)} unreadable, {len(run.outside_region)} outside "
        "the region",
    ]
    lines += [f"  no good value: {reason}" for reason in ingest.skipped_no_good]
    lines += [f"  unreadable: {reason}" for reason in ingest.bad_files]
    lines += [f"  outside region: {key}" for key in run.outside_region]
    if run.excluded:
        lines.append(f"{len(run.excluded)} station-window-variant cases below validation_min_n left out")
    return "\n".join(lines)


def _plots(
    run: ValidationRun, directory: Path, database_url: str, first: date, last: date, windows: tuple[int, ...]
) -> list[Path]:
    from smprod import db
    from smprod.validation import pipeline, report

    matchups = pipeline.load_matchups(db.make_engine(database_url), first, last)
    written = [
        report.plot_station_series(matchups, directory / "station_timeseries.png"),
        report.plot_metric_boxes(run.metrics, directory / "station_metrics_boxplot.png", f"{max(windows)}d"),
    ]
    return [path for path in written if path is not None]
