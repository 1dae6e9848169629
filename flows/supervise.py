"""How a command runs a flow: recovery at start, and a graceful stop on SIGTERM.

Every command that runs flows (``smprod run``, ``backfill``, ``reprocess``, ``train``) calls
:func:`run_flow`, which

1. recovers what earlier processes left (:func:`recover`): run-ledger closings that a database
   outage deferred (:func:`smprod.ops.runs.apply_pending`), and flow runs left RUNNING by a killed
   smprod process on this host, marked Crashed with their ledger rows closed
   (:mod:`smprod.ops.orphans`);
2. runs the flow in a worker thread with this process's mark as Prefect tags. Prefect installs
   its own SIGTERM handler, which aborts the flow wherever it is, only in the main thread; so
   here the main thread's SIGTERM/SIGINT handler just asks :data:`STOP` for a stop, and the
   flows honour it at their next safe point (:mod:`smprod.ops.stopping`): between days and stages.
   Once a stop is honoured, Prefect gets :data:`STOP_GRACE_S` to record the Cancelled states
   (its API may have gone with the same signal, as the temporary server of a one-off run does
   on Ctrl-C); a second signal exits at once. Either way the next start cleans up.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from infra.stack import Endpoints
from smprod.config import Settings
from smprod.errors import StoppedError
from smprod.ops.orphans import HOST_TAG, ProcessMark, is_orphan
from smprod.ops.stopping import STOP_SIGNALS, StopFlag, exit_code

T = TypeVar("T")

#: This process's stop request, checked by the flows at their safe points.
STOP = StopFlag()
#: Seconds Prefect may take to record the final states after the stop was honoured.
STOP_GRACE_S = 5.0
_POLL_S = 0.1


def this_process() -> ProcessMark:
    """The mark of this process (host name and pid)."""
    return ProcessMark(socket.gethostname(), os.getpid())


def run_flow(call: Callable[[], T], settings: Settings, endpoints: Endpoints) -> T:
    """Recover, then run ``call`` (a flow call) so that SIGTERM stops it at a safe point.

    Raises:
        StoppedError: the flow stopped on a signal (the CLI exits with 128 + its number).
        SmprodError: what the flow raised.
    """
    recover(settings, endpoints)
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=_in_worker, args=(call, outcome), name="smprod-flow", daemon=True)
    previous = {signum: signal.signal(signum, _on_signal) for signum in STOP_SIGNALS}
    try:
        worker.start()
        _wait(worker)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if "error" in outcome:
        error: BaseException = outcome["error"]
        stop = _as_stop(error)
        if stop is error:
            raise error
        raise stop from error
    return outcome["value"]  # type: ignore[no-any-return]


def _in_worker(call: Callable[[], Any], outcome: dict[str, Any]) -> None:
    from prefect import tags

    try:
        with tags(*this_process().tags()):
            outcome["value"] = call()
    except BaseException as err:  # handed to the main thread, which raises it
        outcome["error"] = err


def _on_signal(signum: int, frame: object) -> None:
    if STOP.requested:
        _exit_now(signum, f"a second {signal.Signals(signum).name}: stopped at once")
    STOP.request(signum)
    print(
        f"{signal.Signals(signum).name}: stopping at the next safe point (between stages or days); "
        "send it again to stop at once",
        file=sys.stderr,
        flush=True,
    )


def _wait(worker: threading.Thread) -> None:
    honoured: float | None = None
    while worker.is_alive():
        worker.join(_POLL_S)
        if STOP.honoured_at is not None and honoured is None:
            honoured = time.monotonic()
        if honoured is not None and worker.is_alive() and time.monotonic() - honoured > STOP_GRACE_S:
            _exit_now(STOP.signum, f"the Prefect API did not take the final states within {STOP_GRACE_S} s")


def _exit_now(signum: int | None, why: str) -> None:
    """Exit without waiting for the flow (its runs are marked crashed by the next start)."""
    import psutil

    print(
        f"error: {why}; the run ledger and Prefect are cleaned up by the next smprod start",
        file=sys.stderr,
        flush=True,
    )
    for child in psutil.Process().children():  # e.g. Prefect's temporary server
        child.terminate()
    sys.stdout.flush()
    os._exit(exit_code(signum))


def _as_stop(err: BaseException) -> BaseException:
    """A flow's Cancelled state reaches the caller as CancelledRun: report it as the stop it was."""
    from prefect.exceptions import CancelledRun

    if isinstance(err, CancelledRun):
        return StoppedError(STOP.signum, STOP.honoured_at or f"({err})")
    return err


# ------------------------------------------------------------------------------------ recovery


def recover(settings: Settings, endpoints: Endpoints) -> None:
    """Close what earlier smprod processes left open: deferred ledger closings, orphaned flow runs.

    Raises:
        DatabaseError: the database is unavailable (nothing else would work either).
    """
    from smprod import db
    from smprod.ops import runs

    engine = db.make_engine(endpoints.database_url)
    runs.apply_pending(engine, settings.workdir / runs.PENDING_DIR)
    crashed = mark_orphans_crashed()
    for flow_run_id, mark in crashed:
        error = f"abandoned: its process {mark.host}:{mark.pid} died before finishing"
        runs.close_runs_of_flow_run(engine, flow_run_id, error)


def mark_orphans_crashed() -> list[tuple[str, ProcessMark]]:
    """Mark Crashed the RUNNING/PENDING flow runs of smprod processes of this host that are gone.

    Returns:
        (flow run id, process mark) of each run marked.
    """
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    host = socket.gethostname()
    crashed = []
    with get_client(sync_client=True) as client:
        for flow_run in _active_runs(client, host):
            mark = ProcessMark.from_tags(flow_run.tags)
            started = flow_run.start_time or flow_run.created
            if mark is None or not is_orphan(mark, started, host, _process_started(mark.pid)):
                continue
            message = f"its process {mark.host}:{mark.pid} died (marked by the next smprod start)"
            client.set_flow_run_state(flow_run.id, Crashed(message=message), force=True)
            crashed.append((str(flow_run.id), mark))
    return crashed


def _active_runs(client: Any, host: str) -> list[Any]:
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    active = FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING])
    query = FlowRunFilter(
        state=FlowRunFilterState(type=active), tags=FlowRunFilterTags(all_=[HOST_TAG + host])
    )
    return list(client.read_flow_runs(flow_run_filter=query, sort=FlowRunSort.START_TIME_ASC, limit=200))


def _process_started(pid: int) -> datetime | None:
    import psutil

    try:
        return datetime.fromtimestamp(psutil.Process(pid).create_time(), UTC)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
