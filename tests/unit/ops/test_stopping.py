"""Stop requests are only recorded by the signal handler and raised at safe points."""

from __future__ import annotations

import signal
import threading

import pytest

from smprod.errors import SmprodError, StoppedError
from smprod.ops.stopping import StopFlag, exit_code


def test_a_safe_point_passes_until_a_stop_is_requested():
    stop = StopFlag()
    stop.check("before stage 'ingest' of 2024-06-01")  # nothing asked: no-op
    assert not stop.requested and stop.honoured_at is None

    stop.request(signal.SIGTERM)

    with pytest.raises(StoppedError) as info:
        stop.check("before stage 'publish' of 2024-06-01")
    assert str(info.value) == "stopped by SIGTERM before stage 'publish' of 2024-06-01"
    assert info.value.signum == signal.SIGTERM and isinstance(info.value, SmprodError)
    assert stop.honoured_at == "before stage 'publish' of 2024-06-01"


def test_the_first_request_and_the_first_safe_point_are_kept():
    stop = StopFlag()
    stop.request(signal.SIGINT)
    stop.request(signal.SIGTERM)  # a second signal does not rename the stop
    for where in ("before 2024-06-02", "before 2024-06-03"):
        with pytest.raises(StoppedError, match="SIGINT"):
            stop.check(where)
    assert stop.signum == signal.SIGINT and stop.honoured_at == "before 2024-06-02"
    stop.clear()
    stop.check("after clear")
    assert not stop.requested


def test_a_request_from_another_thread_is_seen():
    stop = StopFlag()
    thread = threading.Thread(target=stop.request, args=(signal.SIGTERM,))
    thread.start()
    thread.join()
    with pytest.raises(StoppedError):
        stop.check("before 2024-06-01")


def test_exit_codes_follow_the_shell_convention():
    assert exit_code(signal.SIGTERM) == 143
    assert exit_code(signal.SIGINT) == 130
    assert exit_code(None) == 143
    assert str(StoppedError(None, "before 2024-06-01")) == "stopped by request before 2024-06-01"
