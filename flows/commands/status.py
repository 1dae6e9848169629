"""``smprod status [--json]``: the newest produced day and its latency, failed days, days pending
reprocessing (wiring only: the findings are :mod:`smprod.ops.status`'s).

Not ``smprod stack status``, which reports the embedded services.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from flows.commands._options import ConfigOpt, WorkdirOpt, settings_from_cli

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from smprod.config import Settings
    from smprod.ops.status import PendingDay, ProductionStatus

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the status as one JSON object.")]
#: Said when nothing has been produced in the work directory.
START_HINT = "start with `smprod demo`, or `smprod backfill --start YYYY-MM-DD --end YYYY-MM-DD`"


def register(app: typer.Typer) -> None:
    app.command("status")(status)


def status(json_out: JsonOpt = False, config: ConfigOpt = None, workdir: WorkdirOpt = None) -> None:
    """Newest produced day and its latency, failed days and days pending reprocessing."""
    from smprod.ops.status import status_lines

    report = production_status(settings_from_cli(config, workdir=workdir))
    if json_out:
        typer.echo(json.dumps(report.as_dict(), indent=2, sort_keys=True))
        return
    for line in status_lines(report):
        typer.echo(line)


def production_status(settings: Settings) -> ProductionStatus:
    """Look at the work directory (and its run ledger, when it has one) without changing it."""
    from smprod.layout import WorkLayout
    from smprod.ops.status import ProductionStatus, failed_days, merge_pending, newest_day

    layout = WorkLayout(settings.workdir)
    if not layout.root.is_dir():
        return ProductionStatus(layout.root, 0, None, notes=(f"no such work directory: {START_HINT}",))
    engine = _ledger(settings)
    notes = [] if engine is not None else [f"no run ledger yet (no database in {layout.stack}): {START_HINT}"]
    pending, source_note = _pending(settings, engine)
    try:
        failed = tuple(failed_days(engine)) if engine is not None else ()
    finally:
        if engine is not None:
            engine.dispose()
    days = layout.product_days()
    return ProductionStatus(
        layout.root,
        len(days),
        newest_day(layout),
        failed,
        merge_pending(*pending),
        tuple(notes + source_note),
    )


def _ledger(settings: Settings) -> Engine | None:
    """The run ledger's engine: the configured database, or the embedded one if the work
    directory has it (a new work directory gets no database from a status)."""
    from flows.services import resolve_endpoints
    from infra.stack import EmbeddedStack
    from smprod import db

    if settings.database_url is None and not EmbeddedStack(settings.workdir).pgdata.is_dir():
        return None
    return db.make_engine(resolve_endpoints(settings).database_url)


def _pending(settings: Settings, engine: Engine | None) -> tuple[list[list[PendingDay]], list[str]]:
    """Days whose input key changed, and days with better granules in the local archive."""
    from smprod.grids.ease import region_from_bbox
    from smprod.inputs import ledger
    from smprod.layout import WorkLayout
    from smprod.ops.status import improved_days, stale_days
    from smprod.product.produce import ProductSettings
    from smprod.workdir import check_work_region

    layout = WorkLayout(settings.workdir)
    if not layout.product_days():
        return [], []
    region = region_from_bbox(settings.bbox, settings.coarse_km)  # as the next run would make it:
    check_work_region(layout, region, settings.coarse_product)  # the bbox is part of the input key
    groups = [stale_days(layout, region, ProductSettings.of(settings))]
    if settings.earthdata or not settings.archive_dir.is_dir():
        return groups, [f"newer granules not looked for (Earthdata or no archive at {settings.archive_dir}): "
                        "`smprod reprocess` does"]  # fmt: skip
    from smprod.inputs.sources import ArchiveSource

    quarantined = (
        {row["granule_id"] for row in ledger.granule_rows(engine, status="quarantined")} if engine else set()
    )
    groups.append(improved_days(layout, ArchiveSource(settings.archive_dir), region.bbox, quarantined))
    return groups, []
