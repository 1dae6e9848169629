"""``smprod serve``: serve the scheduled deployments (daily production, weekly retrain, reprocess)."""

from __future__ import annotations

import typer

from flows.commands._options import ArchiveOpt, BBoxOpt, ConfigOpt, WorkdirOpt, settings_from_cli


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
    from flows.services import resolve_endpoints, use_prefect_api
    from flows.supervise import recover
    from infra.stack import EmbeddedStack

    settings = settings_from_cli(config, workdir=workdir, archive=archive, bbox=bbox)
    if settings.prefect_api_url is None:
        EmbeddedStack(settings.workdir).up(prefect=True)
    # Prefect reads its API URL when it is imported: resolve it first, or serve would start
    # a throw-away temporary server and register the deployments there.
    endpoints = resolve_endpoints(settings)
    use_prefect_api(endpoints)
    recover(settings, endpoints)  # runs a killed smprod process left RUNNING: Crashed
    from prefect import serve as prefect_serve

    from flows.daily import daily, reprocess_updates, retrain
    from smprod.secrets import without_secrets

    # Stored deployment parameters are readable by anyone reaching the Prefect API: the
    # secrets stay out and each flow run reads them from its environment (with_secrets).
    parameters = {"settings": without_secrets(settings)}
    schedules = {
        "daily": (daily, settings.daily_cron),
        "weekly-retrain": (retrain, settings.retrain_cron),
        "reprocess": (reprocess_updates, settings.reprocess_cron),
    }
    deployments = [
        flow.to_deployment(name=name, cron=cron, parameters=parameters)
        for name, (flow, cron) in schedules.items()
    ]
    for name, (flow, cron) in schedules.items():
        typer.echo(f"serving {flow.name}/{name} on {cron!r} (UTC)")
    prefect_serve(*deployments, pause_on_shutdown=False)
