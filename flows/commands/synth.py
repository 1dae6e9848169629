"""``smprod synth``: write a synthetic archive in the real formats, with its 1 km truth."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from smprod.config import COARSE_KM, BBox

if TYPE_CHECKING:
    from smprod.synthetic.spec import SuiteWorld


def register(app: typer.Typer) -> None:
    app.command("synth")(synth)


def synth(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the archive into.")],
    start: Annotated[str | None, typer.Option("--start", help="First day, YYYY-MM-DD.")] = None,
    days: Annotated[int | None, typer.Option("--days", min=1, max=730, help="Number of days.")] = None,
    bbox: Annotated[str | None, typer.Option("--bbox", help="Region minlon,minlat,maxlon,maxlat.")] = None,
    coarse: Annotated[
        int | None, typer.Option("--coarse", help="SMAP grid: 36 (SPL3SMP) or 9 (SPL3SMP_E).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed; same seed, same files.")] = None,
    world: Annotated[
        str | None,
        typer.Option(
            "--world",
            help="A world of the accuracy suite (smprod.synthetic.spec.SUITE): its knobs, and its region, "
            "dates, grid and seed unless given.",
        ),
    ] = None,
) -> None:
    """Simulate a world; write SMAP, MODIS, IMERG, static and ISMN files plus truth/ (never read)."""
    from smprod.synthetic.archive import write_archive
    from smprod.synthetic.spec import WorldSpec

    chosen = _suite_world(world)
    coarse_km, first, region_bbox = _grid_dates_region(chosen, start, days, bbox, coarse)
    ndays = days or chosen.days  # type: ignore[union-attr]
    the_seed = seed if seed is not None else (chosen.seed if chosen else 0)
    spec = chosen.spec if chosen else WorldSpec()
    report = write_archive(out, first, ndays, region_bbox, coarse_km, the_seed, spec)
    counts = ", ".join(f"{kind} {n}" for kind, n in sorted(report.files.items()))
    typer.echo(f"wrote {sum(report.files.values())} files to {out}: {counts}")
    typer.echo(f"region: {report.region.coarse.shape} coarse cells, {report.region.fine.shape} 1 km cells")
    if spec.describe():
        typer.echo(f"world knobs: {spec.describe()}")


def _suite_world(world: str | None) -> SuiteWorld | None:
    """The accuracy suite's world of that name (None: no --world); a ConfigError names the known ones."""
    from smprod.errors import ConfigError
    from smprod.synthetic.spec import suite_world

    try:
        return suite_world(world) if world else None
    except KeyError as err:
        raise ConfigError(str(err.args[0])) from err


def _grid_dates_region(
    chosen: SuiteWorld | None, start: str | None, days: int | None, bbox: str | None, coarse: int | None
) -> tuple[int, date, tuple[float, float, float, float]]:
    """(coarse km, first day, bbox): the options, else the suite world's; ConfigErrors otherwise."""
    from smprod.errors import ConfigError

    if chosen is None and None in (start, days, bbox):
        raise ConfigError("give --start, --days and --bbox (or --world NAME for a suite world)")
    coarse_km = coarse or (chosen.coarse_km if chosen else 36)
    if coarse_km not in COARSE_KM.values():
        raise ConfigError(f"--coarse must be 36 or 9, got {coarse_km}")
    try:
        first = date.fromisoformat(start) if start else chosen.start  # type: ignore[union-attr]
        region_bbox = BBox.parse(bbox) if bbox else chosen.bbox  # type: ignore[union-attr]
    except ValueError as err:
        raise ConfigError(f"invalid --start or --bbox: {err}") from err
    return coarse_km, first, region_bbox
