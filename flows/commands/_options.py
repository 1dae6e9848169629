"""Options shared by many commands and the one place the CLI turns them into settings."""

from __future__ import annotations

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
    """Settings for a command: ``--config`` or ``$SMPROD_CONFIG`` (:func:`load_settings` reads
    it when ``config`` is None), environment, then options."""
    return load_settings(config, **overrides)


def parse_day(text: str, option: str) -> date:
    """A ``YYYY-MM-DD`` option value; a ConfigError naming the option otherwise (exit code 2)."""
    from smprod.errors import ConfigError

    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise ConfigError(f"{option} {text!r} is not a date YYYY-MM-DD") from err


def check_order(first: date, last: date, start_option: str = "--start", end_option: str = "--end") -> None:
    """A ConfigError (exit code 2) when a range's first day is after its last."""
    from smprod.errors import ConfigError

    if first > last:
        raise ConfigError(
            f"{start_option} {first} is after {end_option} {last}: give a {start_option} on or "
            f"before {end_option}"
        )


def claim_workdir(settings: Settings) -> None:
    """Before a command writes under the work directory (and before any service starts).

    Unless Earthdata downloads the granules, the archive must be an existing folder; then the
    work directory's region is recorded on its first use, or the settings are refused when they
    give another region or coarse product (:mod:`smprod.workdir`). Both are ConfigErrors (exit 2).
    """
    from smprod.grids.ease import region_from_bbox
    from smprod.inputs.sources.archive import require_archive
    from smprod.layout import WorkLayout
    from smprod.workdir import claim_work_region

    if not settings.earthdata:
        require_archive(settings.archive_dir)
    region = region_from_bbox(settings.bbox, settings.coarse_km)
    claim_work_region(WorkLayout(settings.workdir), region, settings.coarse_product)
