"""What a work directory is for: one region and one coarse product, recorded on first use.

Everything under a work directory (gridded inputs, products, the catalog, the models trained on
them) belongs to one region of one coarse grid: a day's ``inputs/`` or ``products/`` folder has
no room for a second region. The first command that writes there records the region (the
bbox snapped to whole coarse cells, i.e. the coarse grid window) and the coarse product in
``<workdir>/region.json`` (:attr:`smprod.layout.WorkLayout.region_file`); a later command whose
settings give another grid window or product is refused with a :class:`~smprod.errors.ConfigError`
before it changes anything. Two bboxes that snap to the same cells are the same region.

The record is created with a hard link from a complete temporary file, so it appears all at
once and two first commands racing cannot both win: the loser reads the winner's record and is
compared with it like any later command.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smprod.errors import ConfigError
from smprod.grids.ease import Region, RegionGrid
from smprod.layout import WorkLayout

#: Decimal places of the snapped lon/lat bounds kept in the record (about 0.1 m).
BOUNDS_DECIMALS = 6
#: Fields of the coarse grid window in the record (:class:`smprod.grids.ease.RegionGrid`).
GRID_FIELDS = ("km", "row0", "col0", "nrows", "ncols")


@dataclass(frozen=True)
class WorkRegion:
    """The region and coarse product of a work directory.

    Attributes:
        coarse_product: ``SPL3SMP`` or ``SPL3SMP_E``.
        coarse: the coarse grid window the bbox snapped to (this decides equality).
        bbox: lon/lat bounds of that window ``(minlon, minlat, maxlon, maxlat)``.
    """

    coarse_product: str
    coarse: RegionGrid
    bbox: tuple[float, float, float, float]

    @classmethod
    def of(cls, region: Region, coarse_product: str) -> WorkRegion:
        """The record of ``region`` (snapped bounds, not the bbox as given)."""
        bounds = tuple(round(v, BOUNDS_DECIMALS) for v in region.coarse.lonlat_bounds())
        return cls(coarse_product, region.coarse, bounds)  # type: ignore[arg-type]

    def same_as(self, other: WorkRegion) -> bool:
        """Same coarse product and same coarse grid window."""
        return self.coarse_product == other.coarse_product and self.coarse == other.coarse

    def describe(self) -> str:
        """``bbox -100,33.98,-97.95,35.6 (SPL3SMP, 5 x 6 cells of 36 km)``."""
        bbox = ",".join(f"{v:.6g}" for v in self.bbox)
        grid = self.coarse
        return f"bbox {bbox} ({self.coarse_product}, {grid.nrows} x {grid.ncols} cells of {grid.km} km)"

    def region(self) -> Region:
        """The :class:`~smprod.grids.ease.Region` of the record (fine grid nested at 1 km)."""
        return Region(bbox=self.bbox, coarse=self.coarse, fine=self.coarse.refine(1))

    def to_json(self) -> dict[str, Any]:
        """The JSON object stored in ``region.json``."""
        grid = self.coarse
        window = {
            "km": grid.km,
            "row0": grid.row0,
            "col0": grid.col0,
            "nrows": grid.nrows,
            "ncols": grid.ncols,
        }
        return {"coarse_product": self.coarse_product, "bbox": list(self.bbox), "coarse_grid": window}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkRegion:
        """Parse :meth:`to_json`'s object; KeyError/TypeError/ValueError when it is not one."""
        grid = RegionGrid(
            **{k: int(data["coarse_grid"][k]) for k in ("km", "row0", "col0", "nrows", "ncols")}
        )
        bbox = tuple(float(v) for v in data["bbox"])
        if len(bbox) != 4:
            raise ValueError(f"bbox needs 4 numbers, got {data['bbox']!r}")
        return cls(str(data["coarse_product"]), grid, bbox)  # type: ignore[arg-type]


def read_work_region(layout: WorkLayout) -> WorkRegion | None:
    """The recorded region of the work directory; None before its first use.

    Raises:
        ConfigError: the record exists but cannot be read (names the file and the fix), or the
            work directory is a file.
    """
    path = layout.region_file
    if layout.root.exists() and not layout.root.is_dir():
        raise ConfigError(
            f"work directory {layout.root} is not a folder (setting workdir: --workdir, SMPROD_WORKDIR "
            "or workdir in smprod.toml): give a folder, new or used by smprod before"
        )
    try:
        return WorkRegion.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(
            f"{path} cannot be read ({err}): it records the region this work directory is for; "
            "restore it, or delete it only if every folder under the work directory is for the "
            "configured bbox and coarse_product"
        ) from err


def check_work_region(layout: WorkLayout, region: Region, coarse_product: str) -> WorkRegion | None:
    """Refuse settings for another region than the work directory's (nothing is written).

    Returns:
        The recorded region, or None when the work directory has none yet.

    Raises:
        ConfigError: naming both regions and saying to use another work directory.
    """
    recorded = read_work_region(layout)
    wanted = WorkRegion.of(region, coarse_product)
    if recorded is not None and not recorded.same_as(wanted):
        raise ConfigError(
            f"work directory {layout.root} is for the region {recorded.describe()}, recorded in "
            f"{layout.region_file}; this command's settings give {wanted.describe()}. Use another "
            "--workdir (SMPROD_WORKDIR) for that region, or the work directory's bbox and "
            "coarse_product; nothing was changed"
        )
    return recorded


def claim_work_region(layout: WorkLayout, region: Region, coarse_product: str) -> WorkRegion:
    """Record the region on the work directory's first use; refuse another region later.

    Returns:
        The work directory's region (just recorded, or the matching record).

    Raises:
        ConfigError: the work directory is for another region or coarse product
            (:func:`check_work_region`), or the record cannot be written.
    """
    recorded = check_work_region(layout, region, coarse_product)
    if recorded is not None:
        return recorded
    wanted = WorkRegion.of(region, coarse_product)
    try:
        _create_once(layout.region_file, json.dumps(wanted.to_json(), indent=2) + "\n")
    except FileExistsError:  # another command recorded it first: compare with that one
        return check_work_region(layout, region, coarse_product) or wanted
    except OSError as err:
        raise ConfigError(f"cannot record the region in {layout.region_file}: {err}") from err
    return wanted


def _create_once(target: Path, text: str) -> None:
    """Create ``target`` with ``text`` all at once; FileExistsError if it exists already."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp_name, target)  # atomic, and never replaces an existing record
    finally:
        os.unlink(tmp_name)


def reading_region(layout: WorkLayout, configured: Region, coarse_product: str, bbox_given: bool) -> Region:
    """The region of a command that only reads the work directory (``smprod validate``).

    Args:
        configured: the region of the settings.
        coarse_product: the coarse product of the settings.
        bbox_given: whether the command was given a bbox of its own (``--bbox``).

    Returns:
        Without a bbox of its own, the work directory's recorded region (the settings' default
        or ``SMPROD_BBOX`` need not repeat it); otherwise, or before the first use, ``configured``.

    Raises:
        ConfigError: a bbox was given for another region than the work directory's.
    """
    recorded = read_work_region(layout)
    if recorded is not None and not bbox_given:
        return recorded.region()
    check_work_region(layout, configured, coarse_product)
    return configured
