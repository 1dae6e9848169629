"""Stopping a long run on request (SIGTERM, Ctrl-C) at a safe point.

systemd stops a service with SIGTERM and kills it after ``TimeoutStopSec``; an operator presses
Ctrl-C. Either way the run should end soon and cleanly: the signal handler (installed by the
command line, :mod:`flows.supervise`) only calls :meth:`StopFlag.request`; the code being run
calls :meth:`StopFlag.check` at its safe points, which raises :class:`StoppedError` once a stop
was asked for. The safe points are between days and between the stages of a day, never inside
a stage: a stage that has started (the atomic write of a day's product files, a STAC publish, a
validation upsert) always finishes first, so a stop never leaves a half-written day.

The interrupted day is recorded as ``cancelled`` in the run ledger (:mod:`smprod.ops.runs`) and its
Prefect flow run as Cancelled; rerunning the same command continues (finished days are skipped).
The process then exits with :func:`exit_code` (128 + the signal number, the shell's convention).
"""

from __future__ import annotations

import signal
import threading

from smprod.errors import StoppedError

#: Signals that ask for a stop at the next safe point (a second one stops at once).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopFlag:
    """One process's stop request: set by a signal handler, checked at safe points (thread-safe)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._signum: int | None = None
        self._honoured_at: str | None = None

    def request(self, signum: int | None) -> None:
        """Ask for a stop (from a signal handler: it only records, it never raises)."""
        if not self._event.is_set():
            self._signum = signum
            self._event.set()

    @property
    def requested(self) -> bool:
        """Whether a stop was asked for."""
        return self._event.is_set()

    @property
    def signum(self) -> int | None:
        """The signal that asked for the stop (None if none did)."""
        return self._signum

    @property
    def honoured_at(self) -> str | None:
        """The safe point where the stop was first raised (None before that)."""
        return self._honoured_at

    def check(self, where: str) -> None:
        """A safe point: raise :class:`StoppedError` if a stop was asked for.

        Args:
            where: the point, for the message, e.g. ``"before stage 'publish' of 2024-06-20"``.
        """
        if self._event.is_set():
            if self._honoured_at is None:
                self._honoured_at = where
            raise StoppedError(self._signum, where)

    def clear(self) -> None:
        """Forget the request (a new command in the same process, tests)."""
        self._event.clear()
        self._signum = None
        self._honoured_at = None


def exit_code(signum: int | None) -> int:
    """The exit code of a run stopped by ``signum``: 143 for SIGTERM, 130 for SIGINT (128 + n)."""
    return 128 + int(signum if signum is not None else signal.SIGTERM)
