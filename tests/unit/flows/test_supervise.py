"""How a command reports a flow that stopped (flows/supervise.py), without running one."""

from __future__ import annotations

import contextlib
import os
import signal
import socket

from prefect.exceptions import CancelledRun

from flows.supervise import STOP, _as_stop, this_process
from smprod.errors import MissingInputError, StoppedError


def test_a_cancelled_flow_is_reported_as_the_stop_it_honoured():
    STOP.request(signal.SIGTERM)
    try:
        with contextlib.suppress(StoppedError):
            STOP.check("before stage 'publish' of 2024-06-02")  # where the flow honoured it
        stop = _as_stop(CancelledRun("stopped by SIGTERM before stage 'publish' of 2024-06-02"))
    finally:
        STOP.clear()
    assert isinstance(stop, StoppedError) and stop.signum == signal.SIGTERM
    assert str(stop) == "stopped by SIGTERM before stage 'publish' of 2024-06-02"


def test_other_errors_are_reported_as_they_are():
    error = MissingInputError("no valid SPL3SMP granule for 2024-06-02")
    assert _as_stop(error) is error


def test_this_process_is_marked_by_host_and_pid():
    assert this_process().tags() == (f"smprod-host:{socket.gethostname()}", f"smprod-pid:{os.getpid()}")
