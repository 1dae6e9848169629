"""A product day's files switch in one atomic step; what a killed switch left is finished or removed.

A day's files live in ``products/YYYY/MM/DD/`` (:class:`smprod.layout.ProductFiles`; published
paths and STAC hrefs never change). A writer never touches that directory: it writes the new
day into a hidden sibling ``.DD.<random>.staging`` (:class:`smprod.layout.DaySwitchPaths`),
fsyncs every file and the directory, and then swaps the whole directory in:

* **Rewrite**: ``renameat2(staging, DD, RENAME_EXCHANGE)``, one system call: a reader that
  resolves a path sees the old directory or the new one, never a mix. The staging name now holds
  the old day, which is removed.
* **First write**: ``rename(staging, DD)`` onto nothing (atomic too).
* **Fallback** where the filesystem or kernel refuses ``RENAME_EXCHANGE`` (``EINVAL``: NFS, ZFS
  before 2.2, some FUSE filesystems; ``ENOSYS``/``EOPNOTSUPP``: old kernels, seccomp): a journal
  of three renames, F1 ``staging -> .DD.ready`` (the commit: the new day is complete), F2
  ``DD -> .DD.old``, F3 ``.DD.ready -> DD``. Between F2 and F3 (microseconds, or until the next
  reader if the writer is killed there) the day is absent, never mixed. A killed journal is rolled
  forward by the next reader (:func:`finish_switch`, which :func:`smprod.product.read.product_problems`
  and the readers call) and by the next writer or cleanup (:func:`settle_day`).

Leftovers of killed writers (staging directories, ``.DD.old``, the ``.part`` files writers before
this module left inside a day) are removed by the next write of the day and by
:func:`settle_day` / :func:`settle_products`. A live writer's staging directory is never taken
for a leftover: the writer holds an ``flock`` on it, which the kernel drops when it dies.
Switches and cleanups of a month's days are serialised by an ``flock`` on the month directory.
Where ``flock`` is refused (NFS locks need a writable descriptor), one writer per day (the
flows' day lock) is what keeps writers apart.

Readers see one version: :func:`one_version` repeats a read during which the day's directory
was replaced (its identity, device + inode + ctime, changed).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from smprod.layout import STAGING_SUFFIX, DaySwitchPaths

T = TypeVar("T")
log = logging.getLogger(__name__)

#: ``renameat2`` flags (``linux/fs.h``).
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
_AT_FDCWD = -100
#: errno values by which a filesystem or kernel says it cannot exchange (then: the journal).
EXCHANGE_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP})
#: errno values by which ``flock`` is refused on a filesystem (then: unlocked, see the module doc).
_NO_FLOCK = frozenset({errno.EBADF, errno.ENOLCK, errno.EINVAL, errno.EOPNOTSUPP})
_LIBC = ctypes.CDLL(None, use_errno=True)
#: How often :func:`one_version` reads before it takes the last read as it is.
READ_ATTEMPTS = 3


def exchange(first: Path, second: Path) -> None:
    """Swap two existing paths in one step (``renameat2(..., RENAME_EXCHANGE)``).

    Raises:
        OSError: as the system call fails; errno in :data:`EXCHANGE_UNSUPPORTED` when the
            filesystem or kernel cannot exchange (``ENOSYS`` also when the C library lacks it).
    """
    renameat2 = getattr(_LIBC, "renameat2", None)
    if renameat2 is None:
        raise OSError(errno.ENOSYS, "the C library has no renameat2", str(first), None, str(second))
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(first), None, str(second))


@contextmanager
def new_day(directory: Path) -> Iterator[Path]:
    """A hidden staging directory for the day at ``directory``, switched in if the block completes.

    The leftovers of killed writers of the day are settled first (:func:`settle_day`). The block
    writes the day's files into the yielded directory under their final names; then every file is
    made readable (0644) and fsynced, the directory too (0755), the switch is made (see the module
    doc) and the month directory fsynced. On an exception nothing is switched and the staging
    directory is removed: the day is as it was (or still absent).
    """
    paths = DaySwitchPaths(directory)
    _make_dirs(paths.parent)
    with _locked(paths.parent):
        _settle(paths)
        staging = Path(tempfile.mkdtemp(dir=paths.parent, prefix=paths.staging_prefix, suffix=STAGING_SUFFIX))
        handle = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
        _flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # this writer is alive while it holds it
    try:
        yield staging
        _seal(staging)
        with _locked(paths.parent):
            _switch(staging, paths)
        _fsync(paths.parent)
        _discard(paths.old)  # the old day after a fallback switch
    finally:
        os.close(handle)
        _discard(staging)  # the old day after an exchange, the unfinished new one after a failure


def _switch(staging: Path, paths: DaySwitchPaths) -> None:
    """Put the complete ``staging`` directory at ``paths.directory`` in one step for readers."""
    if not os.path.lexists(paths.directory):
        try:
            os.rename(staging, paths.directory)  # first write: onto nothing, atomic
            return
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise  # a day that appeared meanwhile is exchanged below
    try:
        exchange(staging, paths.directory)
    except OSError as err:
        if err.errno not in EXCHANGE_UNSUPPORTED:
            raise
        _journal_switch(staging, paths)


def _journal_switch(staging: Path, paths: DaySwitchPaths) -> None:
    """The fallback without ``RENAME_EXCHANGE``: F1 commit, F2 old aside, F3 new in."""
    os.rename(staging, paths.ready)  # F1: the journal says the new day is complete
    try:
        os.rename(paths.directory, paths.old)  # F2: the day is absent until F3
    except OSError:
        os.rename(paths.ready, staging)  # nothing was replaced: undo the commit, then fail
        raise
    _roll_forward(paths)


def _roll_forward(paths: DaySwitchPaths) -> None:
    """F3: the committed day in (a reader that finished it first leaves nothing to do)."""
    try:
        os.rename(paths.ready, paths.directory)
    except FileNotFoundError:
        if not paths.directory.is_dir():
            raise


def finish_switch(directory: Path) -> bool:
    """Finish a fallback switch whose writer was killed between F2 and F3 (the day absent, its
    complete new version in ``.DD.ready``): the one repair a reader makes, so that a day is never
    missing because of a kill. Returns whether it did; False also where the reader may not write.
    """
    paths = DaySwitchPaths(directory)
    if os.path.lexists(directory) or not os.path.lexists(paths.ready):
        return False
    try:
        with _locked(paths.parent):
            if os.path.lexists(directory) or not os.path.lexists(paths.ready):
                return False  # a live writer finished it
            _roll_forward(paths)
        _fsync(paths.parent)
    except OSError:
        return False  # e.g. a read-only view: the next writer or cleanup finishes it
    return True


def settle_day(directory: Path) -> list[str]:
    """Finish or remove what killed writers of the day left; returns what was done, one line each.

    A committed fallback switch (``.DD.ready``) is rolled forward (the newest complete day wins);
    staging directories of dead writers, ``.DD.old`` and the ``.part`` files of older writers are
    removed (one that cannot be removed is logged and left). A live writer's staging directory is
    left alone.

    Raises:
        OSError: when a switch cannot be finished (then nothing is written over it).
    """
    paths = DaySwitchPaths(directory)
    if not paths.parent.is_dir():
        return []
    with _locked(paths.parent):
        return _settle(paths)


def settle_products(products: Path) -> list[str]:
    """:func:`settle_day` for every day under ``products`` (``YYYY/MM/DD``) that left something."""
    done: list[str] = []
    for month in sorted(products.glob("[0-9]*/[0-9]*")):
        names = {entry.name.split(".")[1] for entry in month.glob(".[0-9]*.*")}
        for name in sorted(names):
            done += settle_day(month / name)
    for day in sorted(products.glob("[0-9]*/[0-9]*/[0-9]*")):
        if DaySwitchPaths(day).legacy_parts():
            done += settle_day(day)
    return done


def _settle(paths: DaySwitchPaths) -> list[str]:
    """:func:`settle_day` under the month's lock."""
    done = []
    if os.path.lexists(paths.ready):
        if os.path.lexists(paths.directory):  # killed between F1 and F2
            _remove(paths.old)
            os.rename(paths.directory, paths.old)
        _roll_forward(paths)
        done.append(f"finished the interrupted switch of {paths.directory}")
    elif os.path.lexists(paths.old) and not os.path.lexists(paths.directory):
        os.rename(paths.old, paths.directory)  # only by hand: F2 comes after the commit
        done.append(f"put back {paths.directory} from {paths.old.name}")
    leftovers = [path for path in paths.stagings() if not _is_live(path)]
    if os.path.lexists(paths.old):
        leftovers.append(paths.old)
    for leftover in [*leftovers, *paths.legacy_parts()]:
        _discard(leftover)  # one that cannot be removed is logged: it must not stop the day's write
        if not os.path.lexists(leftover):
            done.append(f"removed {leftover}")
    return done


def one_version(directory: Path, read: Callable[[], T]) -> T:
    """``read()`` of the day in ``directory``, repeated when the directory was replaced while it
    ran (its result, or its error, may mix two versions); the last of :data:`READ_ATTEMPTS` is
    taken as it is."""
    for _ in range(READ_ATTEMPTS - 1):
        before = version(directory)
        try:
            result = read()
        except Exception:
            if version(directory) != before:
                continue
            raise
        if version(directory) == before:
            return result
    return read()


def version(directory: Path) -> tuple[int, int, int] | None:
    """The identity of the day's directory now (a switch changes it), None when absent."""
    try:
        stat = os.stat(directory)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_ctime_ns


def _is_live(staging: Path) -> bool:
    """Whether a writer holds ``staging`` (its ``flock``); gone or unlockable counts as dead."""
    try:
        handle = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError as err:
        if err.errno not in _NO_FLOCK:
            raise
    finally:
        os.close(handle)
    return False


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``directory`` (released on close, or when the process dies)."""
    handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def _flock(handle: int, operation: int) -> None:
    try:
        fcntl.flock(handle, operation)
    except OSError as err:
        if err.errno not in _NO_FLOCK:
            raise


def _seal(staging: Path) -> None:
    """Files readable by everyone and on disk, then the directory (mkdtemp makes it 0700)."""
    for path in staging.iterdir():
        os.chmod(path, 0o644)
        _fsync(path)
    os.chmod(staging, 0o755)
    _fsync(staging)


def _make_dirs(directory: Path) -> None:
    """``mkdir -p`` whose new entries are on disk (each created directory's parent fsynced)."""
    missing = []
    while not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        _fsync(path.parent)


def _discard(path: Path) -> None:
    """Remove what a write leaves behind; one that cannot be removed is logged, not raised (the
    write's outcome, or its own error, is what counts) and left to the next :func:`settle_day`."""
    try:
        _remove(path)
    except OSError as err:
        log.warning("%s not removed (the next write or cleanup of the day removes it): %s", path, err)


def _remove(path: Path) -> None:
    """Remove a leftover directory or file; one removed meanwhile by another cleaner is fine."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
        if os.path.lexists(path):
            shutil.rmtree(path)  # still there: say why
    else:
        Path(path).unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
