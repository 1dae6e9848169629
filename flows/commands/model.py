"""``smprod model list|promote|rollback``: operator control of the registered model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from flows.commands._options import ConfigOpt, WorkdirOpt, settings_from_cli

if TYPE_CHECKING:
    from pathlib import Path

    from mlflow.tracking import MlflowClient
    from sqlalchemy.engine import Engine

    from smprod.config import Settings

model_app = typer.Typer(help="Registered model versions, aliases and promotion decisions.")


def _context(config: Path | None, workdir: Path | None) -> tuple[Settings, MlflowClient, Engine]:
    from flows.services import resolve_endpoints
    from smprod import db
    from smprod.mlops.registry import client_for

    settings = settings_from_cli(config, workdir=workdir)
    endpoints = resolve_endpoints(settings)
    return settings, client_for(endpoints.mlflow_tracking_uri), db.make_engine(endpoints.database_url)


@model_app.command("list")
def list_versions(config: ConfigOpt = None, workdir: WorkdirOpt = None) -> None:
    """Versions with their aliases, then the recorded promotion decisions."""
    from smprod.mlops.registry import promotion_history

    settings, client, engine = _context(config, workdir)
    versions = client.search_model_versions(f"name = '{settings.model_name}'")
    if not versions:
        typer.echo(f"no versions of {settings.model_name!r} are registered yet (smprod train)")
        return
    # search results carry no aliases; the registered model has them all (alias -> version)
    by_version: dict[str, list[str]] = {}
    for alias, number in client.get_registered_model(settings.model_name).aliases.items():
        by_version.setdefault(str(number), []).append(alias)
    for version in sorted(versions, key=lambda v: int(v.version)):
        aliases = ", ".join(sorted(by_version.get(str(version.version), []))) or "-"
        tags = version.tags or {}
        mode = (
            f"  reanalysis ({tags.get('window_start')}..{tags.get('window_end')})"
            if tags.get("training_mode") == "reanalysis"
            else ""
        )
        typer.echo(f"v{version.version}  aliases: {aliases}  run: {version.run_id}{mode}")
    for row in promotion_history(engine, settings.model_name):
        typer.echo(f"{row.decided_at:%Y-%m-%d %H:%M} v{row.version} {row.action}: {row.reason}")


@model_app.command("promote")
def promote(
    version: str = typer.Argument(..., help="Version number to make champion."),
    reason: str = typer.Option("operator promotion", help="Why; recorded with the decision."),
    config: ConfigOpt = None,
    workdir: WorkdirOpt = None,
) -> None:
    """Make VERSION the champion (recorded in model_promotions and on the version)."""
    from smprod.mlops.registry import promote_manual

    settings, client, engine = _context(config, workdir)
    promote_manual(client, engine, settings.model_name, version, reason)
    typer.echo(f"{settings.model_name} v{version} is champion")


@model_app.command("rollback")
def rollback(config: ConfigOpt = None, workdir: WorkdirOpt = None) -> None:
    """Give the champion alias back to the previous champion."""
    from smprod.mlops.registry import rollback as do_rollback

    settings, client, engine = _context(config, workdir)
    version = do_rollback(client, engine, settings.model_name)
    typer.echo(f"{settings.model_name} v{version} is champion again")


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
