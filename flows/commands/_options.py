"""Options shared by many commands and the one place the CLI turns them into settings."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from smprod.config import Settings, load_settings

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="smprod.toml to read (default: $SMPROD_CONFIG, then none)."),
]
WorkdirOpt = Annotated[Path | None, typer.Option("--workdir", help="Work directory (SMPROD_WORKDIR).")]
ArchiveOpt = Annotated[Path | None, typer.Option("--archive", help="Archive root (SMPROD_ARCHIVE).")]
BBoxOpt = Annotated[
    str | None, typer.Option("--bbox", help="Region minlon,minlat,maxlon,maxlat (SMPROD_BBOX).")
]


def settings_from_cli(config: Path | None, **overrides: Any) -> Settings:
    """Settings for a command: ``--config`` or ``$SMPROD_CONFIG``, environment, then options."""
    if config is None and os.environ.get("SMPROD_CONFIG"):
        config = Path(os.environ["SMPROD_CONFIG"])
    return load_settings(config, **overrides)


def parse_day(text: str, option: str) -> date:
    """A ``YYYY-MM-DD`` option value; a ConfigError naming the option otherwise (exit code 2)."""
    from smprod.errors import ConfigError

    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise ConfigError(f"{option} {text!r} is not a date YYYY-MM-DD") from err
