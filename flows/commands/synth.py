"""``smprod synth``: write a synthetic archive in the real formats, with its 1 km truth."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from smprod.config import BBox


def register(app: typer.Typer) -> None:
    @app.command("synth")
    def synth(
        out: Annotated[Path, typer.Option("--out", help="Directory to write the archive into.")],
        start: Annotated[str, typer.Option("--start", help="First day, YYYY-MM-DD.")],
        days: Annotated[int, typer.Option("--days", min=1, max=730, help="Number of days.")],
        bbox: Annotated[str, typer.Option("--bbox", help="Region minlon,minlat,maxlon,maxlat.")],
        coarse: Annotated[
            int, typer.Option("--coarse", help="SMAP grid: 36 (SPL3SMP) or 9 (SPL3SMP_E).")
        ] = 36,
        seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same files.")] = 0,
    ) -> None:
        """Simulate a world; write SMAP, MODIS, IMERG, static and ISMN files plus truth/ (never read)."""
        from smprod.errors import ConfigError
        from smprod.synthetic.archive import write_archive

        if coarse not in (36, 9):
            raise ConfigError(f"--coarse must be 36 or 9, got {coarse}")
        try:
            first = date.fromisoformat(start)
            region_bbox = BBox.parse(bbox)
        except ValueError as err:
            raise ConfigError(f"invalid --start or --bbox: {err}") from err
        report = write_archive(out, first, days, region_bbox, coarse, seed)
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(report.files.items()))
        typer.echo(f"wrote {sum(report.files.values())} files to {out}: {counts}")
        typer.echo(
            f"region: {report.region.coarse.shape} coarse cells, {report.region.fine.shape} 1 km cells"
        )
