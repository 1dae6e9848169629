"""``smprod serve``: serve the scheduled deployments (daily production, weekly retrain, reprocess)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import typer

from flows.commands._options import ArchiveOpt, BBoxOpt, ConfigOpt, WorkdirOpt, settings_from_cli

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.deployments.runner import RunnerDeployment

    from smprod.config import Settings


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    config: ConfigOpt = None, workdir: WorkdirOpt = None, archive: ArchiveOpt = None, bbox: BBoxOpt = None
) -> None:
    """Register the deployments with their schedules on the Prefect server and run them (blocks).

    Deployments (flow/deployment): ``smprod-daily/daily`` (daily_cron, default 06:00 UTC),
    ``smprod-retrain/weekly-retrain`` (retrain_cron, Mondays 07:00 UTC) and
    ``smprod-reprocess/reprocess`` (reprocess_cron, daily 06:30 UTC). Stopping the process
    does not pause the schedules (pause_on_shutdown=False): a restart by systemd picks up
    where it left off; pause one with ``prefect deployment pause smprod-daily/daily``.
    """
    settings = settings_from_cli(config, workdir=workdir, archive=archive, bbox=bbox)
    _use_prefect_server(settings)
    from prefect import serve as prefect_serve

    from smprod.secrets import without_secrets

    # Stored deployment parameters are readable by anyone reaching the Prefect API: the
    # secrets stay out and each flow run reads them from its environment (with_secrets).
    parameters = {"settings": without_secrets(settings)}
    schedules = _schedules(settings)
    # to_deployment is async-dispatched (typed deployment | coroutine); called here, outside an
    # event loop, it returns the deployment
    deployments = [
        cast("RunnerDeployment", flow.to_deployment(name=name, cron=cron, parameters=parameters))
        for name, (flow, cron) in schedules.items()
    ]
    for name, (flow, cron) in schedules.items():
        typer.echo(f"serving {flow.name}/{name} on {cron!r} (UTC)")
    prefect_serve(*deployments, pause_on_shutdown=False)


def _use_prefect_server(settings: Settings) -> None:
    """Start the embedded Prefect server unless one is configured, point Prefect at it and
    mark the runs a killed smprod process left RUNNING as Crashed."""
    from flows.services import resolve_endpoints, use_prefect_api
    from flows.supervise import recover
    from infra.stack import EmbeddedStack

    if settings.prefect_api_url is None:
        EmbeddedStack(settings.workdir).up(prefect=True)
    # Prefect reads its API URL when it is imported: resolve it first, or serve would start
    # a throw-away temporary server and register the deployments there.
    endpoints = resolve_endpoints(settings)
    use_prefect_api(endpoints)
    recover(settings, endpoints)


def _schedules(settings: Settings) -> dict[str, tuple[Flow[..., Any], str]]:
    """Deployment name -> (flow, cron) of every served deployment."""
    from flows.daily import daily, reprocess_updates, retrain

    return {
        "daily": (daily, settings.daily_cron),
        "weekly-retrain": (retrain, settings.retrain_cron),
        "reprocess": (reprocess_updates, settings.reprocess_cron),
    }
