"""``smprod demo``: the whole system on a synthetic archive, through the production flows."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from flows.commands._options import ConfigOpt, WorkdirOpt, settings_from_cli

if TYPE_CHECKING:
    from infra.stack import EmbeddedStack
    from smprod.config import Settings
    from smprod.synthetic.demo import DemoPlan


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    workdir: WorkdirOpt = None,
    days: Annotated[int, typer.Option("--days", min=1, max=60, help="Product days to backfill.")] = 14,
    config: ConfigOpt = None,
) -> None:
    """Start the stack, write a synthetic archive, train and register a model, backfill DAYS days
    (publish to STAC, validate into PostgreSQL) and print where to look."""
    from flows.services import use_prefect_api
    from infra.stack import EmbeddedStack
    from smprod.synthetic.demo import DEMO_TRAINING_DAYS, demo_plan

    began = time.monotonic()
    settings = settings_from_cli(config, workdir=workdir, training_window_days=DEMO_TRAINING_DAYS)
    plan = demo_plan(days)
    stack = EmbeddedStack(settings.workdir)
    typer.echo(f"[1/5] starting the embedded stack in {settings.workdir / 'stack'}")
    # Prefect reads its API URL when it is imported: point it at the stack's server first.
    use_prefect_api(stack.up(prefect=True))
    from flows.daily import backfill, retrain

    _write_archive(settings, plan)
    _ingest_training_days(settings, plan.training_days)
    typer.echo(f"[4/5] training and registering a model (window ending {plan.training_days[-1]})")
    typer.echo("      " + retrain(plan.training_days[-1], settings=settings))
    first, last = plan.product_days[0], plan.product_days[-1]
    typer.echo(f"[5/5] backfilling {first} .. {last} through the daily flow")
    outcome = backfill(first, last, settings=settings)
    failed = {day: status for day, status in outcome.items() if status.startswith("failed")}
    _pointers(settings, stack, time.monotonic() - began, len(outcome) - len(failed), failed)
    if failed:
        raise typer.Exit(1)


def _write_archive(settings: Settings, plan: DemoPlan) -> None:
    """Step 2: the synthetic archive, unless one is there already."""
    from smprod.synthetic.archive import write_archive
    from smprod.synthetic.demo import DEMO_SEED

    archive = settings.archive_dir
    if not (archive / "smap").exists():
        typer.echo(f"[2/5] writing a synthetic archive ({plan.archive_days} days) to {archive}")
        write_archive(
            archive, plan.archive_start, plan.archive_days, settings.bbox, settings.coarse_km, DEMO_SEED
        )
    else:
        typer.echo(f"[2/5] reusing the archive in {archive}")


def _ingest_training_days(settings: Settings, days: Sequence[date]) -> None:
    """Step 3: ingest the training days that have no inputs yet."""
    from flows.daily import make_ctx
    from smprod.inputs.ingest import ingest_day

    with make_ctx(settings) as ctx:
        typer.echo(f"[3/5] ingesting the {len(days)} training days")
        source = ctx.source()
        for day in days:
            if not (ctx.layout.inputs_dir(day) / "coarse.nc").exists():
                ingest_day(
                    day,
                    ctx.region,
                    settings.coarse_product,
                    source,
                    ctx.layout,
                    ctx.engine,
                    use_sif=settings.use_sif,
                )


#: Port of the ``mlflow ui`` command the demo prints.
MLFLOW_UI_PORT = 5000


def _pointers(
    settings: Settings, stack: EmbeddedStack, seconds: float, produced: int, failed: dict[str, str]
) -> None:
    from smprod.mlops.tracking import training_runs_url

    endpoints = stack.endpoints(stack.prefect_url())
    socket_dir = stack.postgres_socket_dir()
    psql = f"{_pgserver_bin()}/psql -h {socket_dir} -U postgres smprod"
    typer.echo("")
    typer.echo(f"demo finished in {seconds / 60:.1f} min: {produced} days produced, {len(failed)} failed")
    for day, status in failed.items():
        typer.echo(f"  {day}: {status}")
    typer.echo(f"products:    {settings.workdir / 'products'}")
    catalog = settings.workdir / "catalog" / "catalog.json"
    smprod, mlflow = _venv_command("smprod"), _venv_command("mlflow")
    if catalog.exists():
        typer.echo(f"STAC:        {catalog}")
        typer.echo(f"  serve:     {smprod} catalog serve --workdir {settings.workdir}  (API + browse page)")
        typer.echo(f"  validate:  {smprod} catalog validate --workdir {settings.workdir}")
    typer.echo(
        f"MLflow UI:   {mlflow} ui --backend-store-uri '{endpoints.mlflow_tracking_uri}' "
        f"--default-artifact-root {endpoints.mlflow_artifact_root} --host 127.0.0.1 --port {MLFLOW_UI_PORT}"
    )
    runs = training_runs_url(endpoints.mlflow_tracking_uri, f"http://127.0.0.1:{MLFLOW_UI_PORT}")
    if runs is not None:
        typer.echo(
            f"  training runs: {runs}  (a row per model version; in situ skill in the insitu_* columns)"
        )
    typer.echo(f"Prefect UI:  {(endpoints.prefect_api_url or '').removesuffix('/api')}")
    typer.echo(f"metrics SQL: {psql} -c 'SELECT * FROM validation_summary_30d'")
    typer.echo(
        f"run ledger:  {psql} -c 'SELECT day, status, model_version, stage_seconds FROM production_runs'"
    )
    typer.echo(f"stop:        {smprod} stack down --workdir {settings.workdir}")


def _venv_command(name: str) -> str:
    """The command's path beside this Python (the project's .venv/bin), so pointers work as printed."""
    import sys
    from pathlib import Path

    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name


def _pgserver_bin() -> str:
    from pathlib import Path

    from infra.stack import import_pgserver

    return str(Path(str(import_pgserver().__file__)).parent / "pginstall" / "bin")
