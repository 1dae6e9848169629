"""``smprod db upgrade``: migrate a database to the current schema."""

from __future__ import annotations

import typer

from flows.commands._options import ConfigOpt, WorkdirOpt, settings_from_cli

db_app = typer.Typer(help="Database schema.")


@db_app.command("upgrade")
def upgrade(config: ConfigOpt = None, workdir: WorkdirOpt = None) -> None:
    """Apply every migration (all branches) to the configured or embedded database."""
    from flows.services import resolve_endpoints
    from smprod import db

    settings = settings_from_cli(config, workdir=workdir)
    url = resolve_endpoints(settings).database_url
    db.check_connection(db.make_engine(url))
    db.upgrade(url)
    typer.echo(f"schema at {sorted(db.current_heads(url))}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
