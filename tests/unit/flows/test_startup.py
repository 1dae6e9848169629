"""flows/startup.py: imports with the cyclic collector paused, then frozen out of its reach."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from flows.startup import importing


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    """Leave the test process's collector as it was: running, nothing frozen by these tests."""
    was_enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if was_enabled:
        gc.enable()


def test_the_collector_is_paused_inside_and_running_again_after() -> None:
    gc.enable()
    with importing():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_what_was_made_inside_is_frozen() -> None:
    with importing():
        made = [object() for _ in range(3)]  # a list: tracked by the collector
    assert gc.get_freeze_count() > 0
    assert all(tracked is not made for tracked in gc.get_objects())  # out of every generation


def test_a_paused_collector_stays_paused() -> None:
    gc.disable()
    with importing():
        pass
    assert not gc.isenabled()


def test_an_error_inside_still_resumes_the_collector() -> None:
    gc.enable()
    with pytest.raises(ImportError), importing():
        raise ImportError("no module named 'missing'")
    assert gc.isenabled()
