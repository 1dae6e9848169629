"""Where everything lives under the work directory (one place, so no two modules disagree).

```
<workdir>/
  region.json                   the region and coarse product the work directory is for
  archive/                      default archive root and download cache
  quarantine/                   granules that failed to open or a check (with a .reason.txt)
  inputs/YYYY/MM/DD/            the day's gridded inputs: fine.nc (1 km), coarse.nc
  products/YYYY/MM/DD/          the day's product files (COGs, thumbnail, provenance)
  products/YYYY/MM/.DD.*        hidden siblings of a day while it is replaced (DaySwitchPaths)
  catalog/                      the static STAC catalog (catalog.json, collection, items)
  validation/YYYYMMDD/          in situ validation plots computed for a day
  stack/postgres/               embedded PostgreSQL data directory
  stack/mlflow-artifacts/       MLflow artifact store
  stack/prefect/                PREFECT_HOME of the embedded Prefect server
  logs/                         service logs
  locks/                        per-day production locks
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

#: Product identifier; also the STAC collection id and the file-name prefix.
PRODUCT_ID = "smprod-sm-1km"
#: COG asset keys of a product day, in the order they are written.
COG_ASSETS = ("soil_moisture", "qa", "uncertainty")
#: Every asset key of a product day (the fields of :class:`ProductFiles`, the STAC item's assets),
#: in the order they are written: the COGs, then the thumbnail and the provenance record.
PRODUCT_ASSETS = (*COG_ASSETS, "thumbnail", "provenance")


@dataclass(frozen=True)
class WorkLayout:
    """Paths under one work directory."""

    root: Path

    @property
    def region_file(self) -> Path:
        """The work directory's region and coarse product, recorded on first use (``smprod.workdir``)."""
        return self.root / "region.json"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def stack(self) -> Path:
        return self.root / "stack"

    def inputs_dir(self, day: date) -> Path:
        return self.root / "inputs" / f"{day:%Y/%m/%d}"

    @property
    def products(self) -> Path:
        """The root of the product days (``products/YYYY/MM/DD``)."""
        return self.root / "products"

    def products_dir(self, day: date) -> Path:
        return self.products / f"{day:%Y/%m/%d}"

    def validation_dir(self, day: date) -> Path:
        """Plots of the in situ validation computed for ``day``."""
        return self.root / "validation" / f"{day:%Y%m%d}"

    def product_files(self, day: date) -> ProductFiles:
        return ProductFiles.in_dir(self.products_dir(day), day)

    def product_days(self) -> list[date]:
        """Days with a published ``soil_moisture`` COG, sorted (folders not named YYYY/MM/DD ignored)."""
        days = []
        for path in self.products.glob("[0-9]*/[0-9]*/[0-9]*"):
            try:
                day = date(int(path.parent.parent.name), int(path.parent.name), int(path.name))
            except ValueError:
                continue
            if self.product_files(day).soil_moisture.exists():
                days.append(day)
        return sorted(days)


@dataclass(frozen=True)
class ProductFiles:
    """The files of one product day (paths; they exist once the day is produced)."""

    day: date
    soil_moisture: Path
    qa: Path
    uncertainty: Path
    thumbnail: Path
    provenance: Path

    @classmethod
    def in_dir(cls, directory: Path, day: date) -> ProductFiles:
        stem = f"{PRODUCT_ID}_{day:%Y%m%d}"
        return cls(
            day=day,
            soil_moisture=directory / f"{stem}_soil_moisture.tif",
            qa=directory / f"{stem}_qa.tif",
            uncertainty=directory / f"{stem}_uncertainty.tif",
            thumbnail=directory / f"{stem}_thumbnail.png",
            provenance=directory / f"{stem}_provenance.json",
        )

    @property
    def directory(self) -> Path:
        """The day's directory (``products/YYYY/MM/DD``): it holds the day's files and nothing else,
        and is replaced as a whole (:mod:`smprod.product.dayswitch`)."""
        return self.provenance.parent

    def cogs(self) -> dict[str, Path]:
        """COG asset key -> path."""
        return {key: getattr(self, key) for key in COG_ASSETS}

    def assets(self) -> dict[str, Path]:
        """Asset key -> path, for every file of the day (:data:`PRODUCT_ASSETS`)."""
        return {key: getattr(self, key) for key in PRODUCT_ASSETS}


#: Name suffix of the hidden directory a day is written into before it is switched in.
STAGING_SUFFIX = ".staging"


@dataclass(frozen=True)
class DaySwitchPaths:
    """The hidden siblings of a day's directory ``products/YYYY/MM/DD`` while a writer replaces it
    (:mod:`smprod.product.dayswitch`). All start with ``.``: never a published path, never served.

    * ``.DD.<random>.staging``: a new day being written (or, after an exchange, the old one
      waiting to be removed);
    * ``.DD.ready``: a complete new day waiting to be renamed in (the journal of the fallback
      switch, on filesystems without ``RENAME_EXCHANGE``);
    * ``.DD.old``: the previous day moved aside by that fallback switch.
    """

    directory: Path

    @classmethod
    def of(cls, files: ProductFiles) -> DaySwitchPaths:
        return cls(files.directory)

    @property
    def parent(self) -> Path:
        """The month directory ``products/YYYY/MM`` the siblings live in."""
        return self.directory.parent

    @property
    def staging_prefix(self) -> str:
        return f".{self.directory.name}."

    @property
    def ready(self) -> Path:
        return self.parent / f".{self.directory.name}.ready"

    @property
    def old(self) -> Path:
        return self.parent / f".{self.directory.name}.old"

    def stagings(self) -> list[Path]:
        """Staging directories of the day present now (a live writer's among them)."""
        return sorted(self.parent.glob(f"{self.staging_prefix}*{STAGING_SUFFIX}"))

    def legacy_parts(self) -> list[Path]:
        """``.<name>.<random>.part`` temporaries that writers before the directory switch left
        inside the day's directory when they were killed."""
        return sorted(self.directory.glob(".*.part*"))

    def leftovers(self) -> list[Path]:
        """Every hidden sibling and temporary of the day present now."""
        fixed = [path for path in (self.ready, self.old) if os.path.lexists(path)]
        return [*self.stagings(), *fixed, *self.legacy_parts()]
