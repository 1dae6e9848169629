"""Where everything lives under the work directory (one place, so no two modules disagree).

```
<workdir>/
  region.json                   the region and coarse product the work directory is for
  archive/                      default archive root and download cache
  quarantine/                   granules that failed to open or a check (with a .reason.txt)
  inputs/YYYY/MM/DD/            the day's gridded inputs: fine.nc (1 km), coarse.nc
  products/YYYY/MM/DD/          the day's product files (COGs, thumbnail, provenance)
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

    def products_dir(self, day: date) -> Path:
        return self.root / "products" / f"{day:%Y/%m/%d}"

    def validation_dir(self, day: date) -> Path:
        """Plots of the in situ validation computed for ``day``."""
        return self.root / "validation" / f"{day:%Y%m%d}"

    def product_files(self, day: date) -> ProductFiles:
        return ProductFiles.in_dir(self.products_dir(day), day)

    def product_days(self) -> list[date]:
        """Days with a published ``soil_moisture`` COG, sorted (folders not named YYYY/MM/DD ignored)."""
        days = []
        for path in (self.root / "products").glob("[0-9]*/[0-9]*/[0-9]*"):
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

    def cogs(self) -> dict[str, Path]:
        """COG asset key -> path."""
        return {key: getattr(self, key) for key in COG_ASSETS}

    def assets(self) -> dict[str, Path]:
        """Asset key -> path, for every file of the day (:data:`PRODUCT_ASSETS`)."""
        return {key: getattr(self, key) for key in PRODUCT_ASSETS}
