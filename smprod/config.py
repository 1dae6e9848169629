"""Settings: one object from ``smprod.toml`` plus ``SMPROD_*`` environment variables.

Precedence (highest first): explicit overrides (command-line options) > environment >
TOML file > defaults. The TOML file is the one given, else the one ``SMPROD_CONFIG`` names.
Only the CLI and flows call :func:`load_settings`; library functions take the resulting
:class:`Settings` (or plain values) as arguments.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from smprod.errors import ConfigError
from smprod.secrets import SECRET_SETTINGS

#: The environment variable naming the ``smprod.toml`` to read when none is given.
CONFIG_ENV = "SMPROD_CONFIG"

CoarseProduct = Literal["SPL3SMP", "SPL3SMP_E"]
ModelKind = Literal["rf", "xgb", "stack"]
#: How a model is trained for the days it makes (the ``training_mode`` setting).
TrainingMode = Literal["near-real-time", "reanalysis"]
NEAR_REAL_TIME: TrainingMode = "near-real-time"
REANALYSIS: TrainingMode = "reanalysis"

#: Cell size (km) of each coarse SMAP L3 product: the one place the two are tied together.
COARSE_KM: dict[CoarseProduct, int] = {"SPL3SMP": 36, "SPL3SMP_E": 9}


def coarse_product_of(km: int) -> CoarseProduct:
    """The coarse SMAP L3 product whose cells are ``km`` km (36: SPL3SMP, 9: SPL3SMP_E).

    Raises:
        ValueError: for a size neither product has.
    """
    for product, size in COARSE_KM.items():
        if size == km:
            return product
    raise ValueError(f"no SMAP L3 product has {km} km cells (36: SPL3SMP, 9: SPL3SMP_E)")


#: Demo region: Oklahoma (MODIS tiles h09v05/h10v05), a classic SMAP cal/val area.
DEFAULT_BBOX = (-100.0, 34.0, -96.0, 37.0)


#: Default sigma (km) of the neighbour correction of cells without SMAP (setting
#: ``gap_correction_km``, :func:`smprod.science.correction.gap_shifts`): 1.5 cells of 36 km. Measured
#: against 1, 0.7 and 2.5 cells and the day's median alone on two synthetic worlds
#: (docs/models.md): best or within 0.3 points on both. Here, not in ``smprod.science.correction``, so
#: reading the settings does not import numpy and scipy (every command starts by it).
DEFAULT_GAP_CORRECTION_KM = 54.0
#: Weight of the sub-grid anomaly model (smprod.science.subgrid), chosen on the accuracy suite.
DEFAULT_SUBGRID_BLEND = 0.5
#: Scale (km) whose cell means equal SMAP's, for both products (the ``conservation_km`` setting).
DEFAULT_CONSERVATION_KM: Literal[9, 36] = 36
#: Default least share of the region's coarse cells with a valid SMAP retrieval on the day (setting
#: ``min_smap_coverage``, :func:`smprod.product.produce.smap_coverage`). A normal day is far above
#: it: AM and PM together covered 77 % of the CONUS cells, 90 % of a 15 x 15 degree box and all of
#: the default region on the real SPL3SMP day in ``../shared/realdata`` (2015-04-10), and the
#: synthetic archives about 75 %; the correction of cells without SMAP (``gap_correction_km``) is
#: built for such swath gaps. Below a tenth, SMAP is essentially absent (an all-fill granule, a
#: region in the gap of both passes, frozen ground) and the day would be the model alone.
DEFAULT_MIN_SMAP_COVERAGE = 0.1
#: What a day below ``min_smap_coverage`` does (setting ``low_smap_coverage``): ``fail`` (default;
#: the run fails naming the day, the coverage and the setting) or ``publish`` (with a warning in
#: the log and the provenance, and QA ``coarse_missing`` on every pixel without SMAP).
LowSmapCoverage = Literal["fail", "publish"]
#: Latitude limit (degrees) of the EASE-Grid 2.0 global grid (EPSG:6933; NSIDC: 85.044 N to S).
EASE_MAX_LAT = 85.0445


class BBox(tuple):  # type: ignore[type-arg]
    """A lon/lat bounding box ``(minlon, minlat, maxlon, maxlat)`` in degrees."""

    @classmethod
    def parse(cls, value: Any) -> tuple[float, float, float, float]:
        """Parse ``"minlon,minlat,maxlon,maxlat"`` or a 4-sequence and check its order and range."""
        parts = value.split(",") if isinstance(value, str) else list(value)
        if len(parts) != 4:
            raise ValueError(f"bbox needs 4 numbers minlon,minlat,maxlon,maxlat, got {value!r}")
        minlon, minlat, maxlon, maxlat = (float(p) for p in parts)
        swapped = _swapped_pair(value, minlon, minlat, maxlon, maxlat)
        if swapped:
            raise ValueError(swapped)
        if not (-180 <= minlon < maxlon <= 180 and -90 <= minlat < maxlat <= 90):
            raise ValueError(
                f"bbox {value!r} is not minlon<maxlon in [-180,180] and minlat<maxlat in [-90,90]"
            )
        if minlat < -EASE_MAX_LAT or maxlat > EASE_MAX_LAT:
            raise ValueError(
                f"bbox {value!r} reaches beyond latitude {EASE_MAX_LAT} degrees N/S, the limit of the "
                "EASE-Grid 2.0 global grid (SMAP L3)"
            )
        return (minlon, minlat, maxlon, maxlat)


def _swapped_pair(value: Any, minlon: float, minlat: float, maxlon: float, maxlat: float) -> str | None:
    """Why a bbox with a min above its max is refused, with the bbox in the right order; None if
    neither pair is reversed.

    minlon > maxlon is a swapped pair, unless the box across 180 degrees would be narrower than a
    hemisphere (``179,60,-179,62``): then it is a region across the antimeridian (unsupported).
    """
    if -180 <= maxlon < minlon <= 180:
        fixed = f"{maxlon:g},{minlat:g},{minlon:g},{maxlat:g}"
        if maxlon + 360 - minlon < 180:
            return (
                f"bbox {value!r} has minlon > maxlon: a region across the antimeridian (180 degrees) "
                "is not supported; split it into one region on each side (or, if the longitude pair "
                f"is swapped, write {fixed})"
            )
        pair = f"minlon {minlon:g} > maxlon {maxlon:g}: the longitude pair"
    elif -90 <= maxlat < minlat <= 90:
        fixed = f"{minlon:g},{maxlat:g},{maxlon:g},{minlat:g}"
        pair = f"minlat {minlat:g} > maxlat {maxlat:g}: the latitude pair"
    else:
        return None
    return f"bbox {value!r} has {pair} looks swapped; the order is minlon,minlat,maxlon,maxlat, e.g. {fixed}"


class Settings(BaseSettings):
    """Every setting of smprod. Unset service URLs mean the embedded stack under ``workdir``."""

    model_config = SettingsConfigDict(
        env_prefix="SMPROD_", extra="forbid", validate_default=True, frozen=True
    )

    workdir: Path = Field(Path("smprod-work"), description="Everything the system writes.")
    archive: Path | None = Field(None, description="Archive root; default <workdir>/archive.")
    # NoDecode: the environment gives "a,b,c,d", not JSON; the validators below parse it.
    bbox: Annotated[tuple[float, float, float, float], NoDecode] = Field(
        DEFAULT_BBOX, description="Region lon/lat."
    )
    coarse_product: CoarseProduct = "SPL3SMP"
    # Secrets: URLs may carry a password; SecretStr masks them wherever settings are serialised
    # (Prefect flow-run parameters, reprs in logs); smprod.secrets.plain() where one connects.
    database_url: SecretStr | None = None
    mlflow_tracking_uri: SecretStr | None = None
    prefect_api_url: str | None = None
    dask_address: str | None = None
    model_name: str = "smprod-downscaler"
    model_kind: ModelKind = "rf"
    terrain_bands: int = Field(1, ge=1, le=5, description="Models per elevation band (1: one model).")
    subgrid_blend: float = Field(
        DEFAULT_SUBGRID_BLEND,
        ge=0,
        le=1,
        description="Weight of the sub-grid anomaly model in the 1 km pattern (0: the main model alone).",
    )
    use_sif: bool = Field(
        False,
        description="GOSIF solar-induced fluorescence as a predictor (GOSIF_YYYYDDD.tif in the "
        "archive); a model keeps the predictors it was trained with.",
    )
    training_window_days: int = Field(60, ge=7, le=3650)
    gap_correction_km: float = Field(
        DEFAULT_GAP_CORRECTION_KM,
        ge=0,
        le=500,
        description="Sigma (km) of the neighbour correction of cells without SMAP; 0 keeps the model value.",
    )
    conservation_km: Literal[9, 36] = Field(
        DEFAULT_CONSERVATION_KM,
        description="Scale (km) whose cell means equal SMAP's: 36 for both products (SPL3SMP_E is a "
        "true mean only over its ~33 km footprint; smprod.science.correction), 9 to force every 9 km cell.",
    )
    min_smap_coverage: float = Field(
        DEFAULT_MIN_SMAP_COVERAGE,
        ge=0,
        le=1,
        description="Least share (0-1) of the region's coarse cells with a valid SMAP retrieval on the "
        "day; below it the day fails, or is published with a warning (low_smap_coverage).",
    )
    low_smap_coverage: LowSmapCoverage = Field(
        "fail", description="A day below min_smap_coverage: 'fail' or 'publish' (warning + QA)."
    )
    retrain_max_age_days: int = Field(7, ge=1)
    promotion_metric: str = "ubrmse"
    validation_windows: Annotated[tuple[int, ...], NoDecode] = (30, 90, 365)
    validation_min_n: int = Field(10, ge=1)
    retrain_insitu_ubrmse: float = Field(0.06, gt=0)
    daily_cron: str = "0 6 * * *"
    retrain_cron: str = "0 7 * * 1"
    reprocess_cron: str = "30 6 * * *"
    earthdata: bool = Field(False, description="Fetch missing granules from Earthdata.")

    @field_validator("bbox", mode="before")
    @classmethod
    def _parse_bbox(cls, value: Any) -> tuple[float, float, float, float]:
        return BBox.parse(value)

    @field_validator("validation_windows", mode="before")
    @classmethod
    def _parse_windows(cls, value: Any) -> tuple[int, ...]:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        windows = tuple(int(v) for v in value)
        if not windows or min(windows) < 1:
            raise ValueError(
                "needs at least one window length of 1 day or more (validation metrics are computed "
                "over each), e.g. [30, 90, 365] in smprod.toml or SMPROD_VALIDATION_WINDOWS=30,90,365"
            )
        return windows

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: SecretStr | None) -> SecretStr | None:
        # Refused here, not by the first connection (an ArgumentError traceback); the value is
        # never repeated: it may hold a password.
        if value is not None and value.get_secret_value():
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError

            try:
                make_url(value.get_secret_value())
            except (ArgumentError, ValueError) as err:  # ValueError: e.g. a port that is no number
                raise ValueError(
                    "not a database URL; the form is postgresql+psycopg://USER[:PASSWORD]@HOST[:PORT]/DB "
                    "(or ...@/DB?host=SOCKET_DIR)"
                ) from err
        return value

    @field_validator("conservation_km", mode="before")
    @classmethod
    def _km_from_text(cls, value: Any) -> Any:
        # The environment gives text, and a Literal of ints takes no text: without this,
        # SMPROD_CONSERVATION_KM=36 was refused with "Input should be 9 or 36 (got '36')".
        return int(value) if isinstance(value, str) and value.strip().isdigit() else value

    @field_validator("daily_cron", "retrain_cron", "reprocess_cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(f"cron schedule {value!r} needs 5 fields (min hour dom month dow)")
        return value

    @model_validator(mode="after")
    def _absolute_paths(self) -> Settings:
        # Paths are made absolute once, so that a flow run in another cwd sees the same files.
        object.__setattr__(self, "workdir", self.workdir.expanduser().resolve())
        if self.archive is not None:
            object.__setattr__(self, "archive", self.archive.expanduser().resolve())
        return self

    @model_validator(mode="after")
    def _conservation_not_finer_than_smap(self) -> Settings:
        if self.conservation_km < self.coarse_km:
            raise ValueError(
                f"conservation_km = {self.conservation_km} is finer than {self.coarse_product}'s "
                f"{self.coarse_km} km cells: use 36"
            )
        return self

    @property
    def archive_dir(self) -> Path:
        """The archive root (also the download cache)."""
        return self.archive if self.archive is not None else self.workdir / "archive"

    @property
    def coarse_km(self) -> int:
        """Coarse cell size in km: 36 for SPL3SMP, 9 for SPL3SMP_E."""
        return COARSE_KM[self.coarse_product]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if settings_cls.model_config.get("toml_file") is not None:
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)

    # --- Reanalysis mode (issue 17, item 3; docs/models.md) -----------------------------------
    training_mode: TrainingMode = Field(
        "near-real-time",
        description="How backfill and reprocess train: near-real-time (the champion, trained on past "
        "days) or reanalysis (a model per block of days, trained on the window around it, days after "
        "included). The daily run is always near-real-time.",
    )
    reanalysis_block_days: int = Field(
        7, ge=1, le=366, description="Reanalysis: days produced with one model (one window)."
    )

    @model_validator(mode="after")
    def _block_inside_window(self) -> Settings:
        if self.reanalysis_block_days > self.training_window_days:
            raise ValueError(
                f"reanalysis_block_days = {self.reanalysis_block_days} is longer than the training "
                f"window (training_window_days = {self.training_window_days}): a block's window "
                "holds the block"
            )
        return self


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from a TOML file, the environment and explicit overrides.

    Args:
        config_file: a ``smprod.toml``; ``None`` means the file ``SMPROD_CONFIG`` names, and
            environment and defaults only when that is unset or empty. Reading this one variable
            here (not only in the CLI) gives a flow's fallback settings the same file as a
            command's; the library reads the ``SMPROD_*`` environment anyway (pydantic-settings).
        **overrides: values that win over everything (command-line options); ``None`` values
            are ignored so that unset options do not mask the environment.

    Raises:
        ConfigError: naming each invalid setting and why.
    """
    if config_file is None and os.environ.get(CONFIG_ENV):
        config_file = Path(os.environ[CONFIG_ENV])
    if config_file is not None:
        check_config_file(Path(config_file))
    given = {k: v for k, v in overrides.items() if v is not None}
    # A throw-away subclass carries the file name, so Settings itself stays file-independent.
    config = SettingsConfigDict(**{**Settings.model_config, "toml_file": config_file})
    klass = type("_FileSettings", (Settings,), {"model_config": config})
    try:
        loaded = klass(**given)
    except ValidationError as err:
        raise ConfigError(_describe(err, config_file)) from err
    except SettingsError as err:
        raise ConfigError(f"invalid settings: {err}") from err
    return Settings.model_construct(**loaded.model_dump())


def check_config_file(path: Path) -> None:
    """Refuse a config file that is missing, unreadable, not UTF-8 or not TOML.

    Raises:
        ConfigError: naming the file, the line (and column) of the problem and the fix.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise ConfigError(f"config file {path} does not exist (set by --config or SMPROD_CONFIG)") from err
    except OSError as err:
        raise ConfigError(
            f"config file {path} cannot be read: {err.strerror} (set by --config or SMPROD_CONFIG)"
        ) from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError(
            f"config file {path} is not UTF-8 text: byte 0x{data[err.start]:02x} on line {line}; "
            "save the file as UTF-8"
        ) from err
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        where = f", in what starts on line {_unclosed_from(text)}" if "end of document" in str(err) else ""
        raise ConfigError(f"config file {path} is not valid TOML: {err}{where}; fix the file there") from err


def _unclosed_from(text: str) -> int:
    """The line where a construct left open at the end of the document starts: the line after
    the longest prefix of whole lines that still parses."""
    lines = text.splitlines()
    for count in range(len(lines) - 1, -1, -1):
        try:
            tomllib.loads("\n".join(lines[:count]))
        except tomllib.TOMLDecodeError:
            continue
        return count + 1
    return 1


def _describe(err: ValidationError, config_file: Path | None) -> str:
    lines = []
    for problem in err.errors():
        name = ".".join(str(p) for p in problem["loc"])
        if not name:  # a rule between settings: its message names them (no SMPROD_SETTINGS exists)
            where = (
                f"{config_file}, the environment or the options"
                if config_file
                else "the environment or the options"
            )
            lines.append(f"{problem['msg'].removeprefix('Value error, ')} (settings from {where})")
            continue
        where = f"SMPROD_{name.upper()}" + (f", or {name} in {config_file}" if config_file else "")
        got = "" if name in SECRET_SETTINGS else f" (got {problem.get('input')!r})"  # may hold a password
        lines.append(f"setting {name!r} ({where}): {problem['msg']}{got}")
    return "invalid settings:\n  " + "\n  ".join(lines)
