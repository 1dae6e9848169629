"""``smprod stack up|status|down``: the embedded PostgreSQL, MLflow store and Prefect server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from flows.commands._options import ConfigOpt, WorkdirOpt, settings_from_cli

if TYPE_CHECKING:
    from infra.stack import EmbeddedStack

stack_app = typer.Typer(help="Start, inspect and stop the embedded services of a work directory.")


@stack_app.command("up")
def up(
    config: ConfigOpt = None,
    workdir: WorkdirOpt = None,
    prefect: bool = typer.Option(True, help="Also start the local Prefect server."),
    port: int = typer.Option(0, help="Prefect server port (0: 4200 or the next free one)."),
) -> None:
    """Start PostgreSQL (migrated), the MLflow store and the Prefect server; idempotent."""
    from infra.stack import EmbeddedStack

    settings = settings_from_cli(config, workdir=workdir)
    stack = EmbeddedStack(settings.workdir)
    stack.up(prefect=prefect, prefect_port=port or None)
    _print_status(stack)


@stack_app.command("status")
def status(config: ConfigOpt = None, workdir: WorkdirOpt = None) -> None:
    """Report each part with its URLs and the commands to look at it; exit 1 if one is down."""
    from infra.stack import EmbeddedStack

    settings = settings_from_cli(config, workdir=workdir)
    if not _print_status(EmbeddedStack(settings.workdir)):
        raise typer.Exit(1)


@stack_app.command("down")
def down(config: ConfigOpt = None, workdir: WorkdirOpt = None) -> None:
    """Stop the Prefect server and PostgreSQL (data stays under the work directory)."""
    from infra.stack import EmbeddedStack

    settings = settings_from_cli(config, workdir=workdir)
    EmbeddedStack(settings.workdir).down()
    typer.echo(f"stopped the embedded stack of {settings.workdir}")


def _print_status(stack: EmbeddedStack) -> bool:
    parts = stack.status()
    for part in parts:
        mark = "up  " if part.running else "down"
        typer.echo(f"{mark} {part.name}: {part.detail}")
    return all(part.running for part in parts)


def register(app: typer.Typer) -> None:
    app.add_typer(stack_app, name="stack")
