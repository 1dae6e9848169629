"""Expected failures are logged with their message only (flows/logs.py)."""

from __future__ import annotations

import logging
import sys

from sqlalchemy.exc import OperationalError

from flows.logs import MLFLOW_STORE_LOGGER, OutageFilter, hide_expected_tracebacks


def _record(error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except BaseException:
        info = sys.exc_info()
    return logging.LogRecord(
        MLFLOW_STORE_LOGGER, logging.ERROR, __file__, 1, "SQLAlchemy error: %s", (error,), info
    )


def test_mlflows_database_outage_record_keeps_its_message_and_loses_its_traceback():
    outage = OperationalError("SELECT 1", {}, Exception("connection refused"))
    record = _record(outage)
    assert OutageFilter().filter(record) and record.exc_info is None
    assert "connection refused" in logging.Formatter().format(record)


def test_other_exceptions_keep_their_traceback():
    record = _record(KeyError("a bug"))
    assert OutageFilter().filter(record) and record.exc_info is not None


def test_the_filter_is_installed_on_mlflows_store_logger_once():
    hide_expected_tracebacks()
    hide_expected_tracebacks()
    filters = logging.getLogger(MLFLOW_STORE_LOGGER).filters
    assert sum(isinstance(f, OutageFilter) for f in filters) == 1
