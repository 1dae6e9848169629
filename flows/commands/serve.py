"""``smprod serve``: serve the scheduled deployments (daily production, weekly retrain)."""

from __future__ import annotations

import typer

from flows.commands._options import ArchiveOpt, BBoxOpt, ConfigOpt, WorkdirOpt, settings_from_cli


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        config: ConfigOpt = None, workdir: WorkdirOpt = None, archive: ArchiveOpt = None, bbox: BBoxOpt = None
    ) -> None:
        """Register the deployments with their schedules on the Prefect server and run them (blocks).

        Schedules come from the settings (daily_cron default 06:00 UTC, retrain_cron weekly).
        Stopping the process does not pause the schedules (pause_on_shutdown=False): a restart by
        systemd picks up where it left off.
        """
        from prefect import serve as prefect_serve

        from flows.daily import daily, make_ctx, retrain
        from infra.stack import EmbeddedStack

        settings = settings_from_cli(config, workdir=workdir, archive=archive, bbox=bbox)
        if settings.prefect_api_url is None:
            EmbeddedStack(settings.workdir).up(prefect=True)
        make_ctx(settings)  # points this process at the Prefect API
        parameters = {"settings": settings.model_dump(mode="json")}
        deployments = [
            daily.to_deployment(name="daily", cron=settings.daily_cron, parameters=parameters),
            retrain.to_deployment(name="weekly-retrain", cron=settings.retrain_cron, parameters=parameters),
        ]
        names = [d.name for d in deployments]
        typer.echo(f"serving {names}; schedules {settings.daily_cron!r}, {settings.retrain_cron!r}")
        prefect_serve(*deployments, pause_on_shutdown=False)
