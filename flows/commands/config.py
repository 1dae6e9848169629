"""``smprod config``: show the effective settings."""

from __future__ import annotations

import json

import typer

from flows.commands._options import ArchiveOpt, BBoxOpt, ConfigOpt, WorkdirOpt, settings_from_cli


def register(app: typer.Typer) -> None:
    app.command("config")(show_config)


def show_config(
    config: ConfigOpt = None,
    workdir: WorkdirOpt = None,
    archive: ArchiveOpt = None,
    bbox: BBoxOpt = None,
) -> None:
    """Print the effective settings (file + environment + options) as JSON and check them.

    Passwords in the URL settings are shown as ``***`` (smprod.secrets.redact_url).
    """
    from smprod.secrets import shown_settings

    settings = settings_from_cli(config, workdir=workdir, archive=archive, bbox=bbox)
    shown = shown_settings(settings)
    shown["archive"] = str(settings.archive_dir)
    typer.echo(json.dumps(shown, indent=2))
