"""Prefect's run logs without tracebacks for expected failures.

Prefect logs every exception that ends a task or flow run with its traceback ("Task run failed
with exception ...", "Encountered exception during execution ..."). For a
:class:`~smprod.errors.SmprodError` the message already names the problem and the fix (a
missing granule, too few training samples, a bad setting), and the traceback only buries it
(``smprod run`` printed 169 lines for one missing model). The filter installed here keeps those
records and their messages but drops the traceback; any other exception is a bug and keeps it.
The run ledger still stores a short traceback of every failed day (``production_runs.error``).
MLflow's SQL store logs a database outage with its traceback too, before the error that smprod
reports as one :class:`~smprod.errors.DatabaseError`; that record keeps its message only.
"""

from __future__ import annotations

import logging

from smprod.db import OUTAGES
from smprod.errors import SmprodError

#: Prefect's loggers of flow and task runs (``prefect.logging.loggers``).
RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")
#: MLflow's SQL store logs a lost database with its traceback before it raises the
#: ``TEMPORARILY_UNAVAILABLE`` error that :func:`smprod.mlops.registry.version_by_alias` reports as a
#: :class:`~smprod.errors.DatabaseError` (``mlflow/store/db/utils.py``, ``make_managed_session``).
MLFLOW_STORE_LOGGER = "mlflow.store.db.utils"


class ExpectedErrorFilter(logging.Filter):
    """Drops the traceback from records about a :class:`SmprodError`; lets every record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Strip ``exc_info`` when it holds a SmprodError; always keep the record."""
        if record.exc_info and isinstance(record.exc_info[1], SmprodError):
            record.exc_info = None
            record.exc_text = None
        return True


class OutageFilter(logging.Filter):
    """Drops the traceback from records about a lost database connection (its message stays)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Strip ``exc_info`` when it holds a driver outage; always keep the record."""
        if record.exc_info and isinstance(record.exc_info[1], OUTAGES):
            record.exc_info = None
            record.exc_text = None
        return True


def hide_expected_tracebacks() -> None:
    """Install the filters on Prefect's run loggers and MLflow's SQL store logger (idempotent)."""
    _install(ExpectedErrorFilter, RUN_LOGGERS)
    _install(OutageFilter, (MLFLOW_STORE_LOGGER,))


def _install(kind: type[logging.Filter], names: tuple[str, ...]) -> None:
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())
