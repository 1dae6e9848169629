"""Which recorded runs belong to a process that is gone (kill -9, OOM, power loss).

A flow run whose process was killed stays RUNNING in Prefect for ever: nothing is left to report
its end. Every flow run an smprod command starts therefore carries its process's mark as tags,
``smprod-host:<host>`` and ``smprod-pid:<pid>`` (:class:`ProcessMark`), and the next command that
starts on the same host looks for RUNNING or PENDING runs whose process no longer exists and
marks them Crashed (:mod:`flows.supervise` does the Prefect calls; the decision is
:func:`is_orphan`). Runs marked by another host are left alone: only that host can tell whether
their process lives.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

HOST_TAG = "smprod-host:"
PID_TAG = "smprod-pid:"
#: A live process holding the recorded pid counts as the run's own unless it started this much
#: later than the run (the pid was reused). Generous, so that a Prefect server whose clock is
#: behind this host's by up to this much never makes a live run look orphaned.
PID_REUSE_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class ProcessMark:
    """The process that runs a flow run: host name and pid."""

    host: str
    pid: int

    def tags(self) -> tuple[str, str]:
        """The Prefect tags that record this mark."""
        return (f"{HOST_TAG}{self.host}", f"{PID_TAG}{self.pid}")

    @classmethod
    def from_tags(cls, tags: Iterable[str]) -> ProcessMark | None:
        """The mark recorded in ``tags``, or None when they hold none (not started by smprod)."""
        host = pid = None
        for tag in tags:
            if tag.startswith(HOST_TAG):
                host = tag[len(HOST_TAG) :]
            elif tag.startswith(PID_TAG) and tag[len(PID_TAG) :].isdigit():
                pid = int(tag[len(PID_TAG) :])
        return cls(host, pid) if host and pid is not None else None


def is_orphan(
    mark: ProcessMark | None,
    run_started: datetime | None,
    this_host: str,
    process_started: datetime | None,
) -> bool:
    """Whether an active run's process is gone.

    Args:
        mark: the run's recorded process (None: not an smprod command's run, never an orphan).
        run_started: when the run started (or was created), as the Prefect server recorded it.
        this_host: the host asking; only its own runs can be judged.
        process_started: when the process that now has ``mark.pid`` on this host started, or
            None when there is no such process.
    """
    if mark is None or mark.host != this_host:
        return False
    if process_started is None:
        return True
    if run_started is None:
        return False
    return process_started > run_started + PID_REUSE_MARGIN
