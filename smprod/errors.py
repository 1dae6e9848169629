"""One exception tree for smprod.

Every error the system raises on purpose derives from :class:`SmprodError`, so callers (the CLI,
the flows) can tell "we refused, with a reason" from a bug. Messages name the bad value and, where
there is one, the fix.
"""

from __future__ import annotations


class SmprodError(Exception):
    """Raised for any expected failure of smprod; the root of the tree."""


class ConfigError(SmprodError):
    """Raised when a setting is missing, malformed or inconsistent; names the setting."""


class GridError(SmprodError):
    """Raised when a region or grid request cannot be satisfied (bbox outside the grid, bad resolution)."""


class GranuleError(SmprodError):
    """Raised for a problem with one granule; carries the path so it can be quarantined."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class GranuleFormatError(GranuleError):
    """Raised when a granule cannot be opened or lacks the variables or attributes its format requires."""


class GranuleRegionError(GranuleError):
    """Raised when a granule does not cover the region it was selected for."""


class GranuleChecksumError(GranuleError):
    """Raised when a downloaded granule's size or checksum differs from what CMR reports."""


class MissingInputError(SmprodError):
    """Raised when an input required to produce a day is not available (no valid granule)."""


class DownloadError(SmprodError):
    """Raised when a granule cannot be downloaded after all retries."""


class StackError(SmprodError):
    """Raised when an embedded service (PostgreSQL, MLflow, Prefect) cannot be started or reached."""


class DatabaseError(SmprodError):
    """Raised when the database is unreachable or a write fails; the step can be rerun later."""


class StoppedError(SmprodError):
    """Raised at a safe point after a stop was asked for (SIGTERM, Ctrl-C); not a failure.

    Attributes:
        signum: the signal that asked (None when the stop came another way).
        where: the safe point, e.g. ``"before stage 'publish' of 2024-06-20"``.
    """

    def __init__(self, signum: int | None, where: str) -> None:
        self.signum = signum
        self.where = where
        super().__init__(f"stopped by {_signal_name(signum)} {where}")


def _signal_name(signum: int | None) -> str:
    import signal

    try:
        return signal.Signals(signum).name if signum is not None else "request"
    except ValueError:
        return f"signal {signum}"


class ModelError(SmprodError):
    """Raised when a model cannot be trained, loaded or registered (no champion, bad artifact)."""


class CorrectionError(SmprodError):
    """Raised when mass-correction inputs do not fit together (shapes, nesting factor, porosity)."""


class MetricInputError(SmprodError, ValueError):
    """Raised when validation statistics get inputs that do not fit (shapes differ, no days, bad block)."""


class ProductError(SmprodError):
    """Raised when a product file cannot be written or fails its own checks."""


class CatalogError(SmprodError):
    """Raised when a STAC object is invalid or the catalog cannot be updated."""


class SchemaNotVendoredError(CatalogError):
    """Raised when validation needs a JSON schema that is not kept in ``catalog/schemas/``."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"schema not vendored: {url} (add the official file to catalog/schemas/ and index.json; "
            "validation never downloads)"
        )
