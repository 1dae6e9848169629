"""Scale-out on a Dask cluster: connect to the configured scheduler, or run locally without one.

When ``dask_address`` (``SMPROD_DASK_ADDRESS``) is set, the day's tiles are predicted on the
cluster (:func:`smprod.science.predict.predict_region`) and backfill days run there too
(:mod:`flows.daily`). Workers read the gridded inputs and write products under the work
directory, so it must be a path every worker sees (a shared filesystem), and the workers need
smprod installed in the same version. Unset, everything runs in this process (threads), which
is the right choice on one machine: the trees already use every core.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from smprod.errors import ConfigError

if TYPE_CHECKING:
    from distributed import Client

#: Seconds to wait for the scheduler before giving up with a ConfigError.
CONNECT_TIMEOUT = 20


@contextmanager
def dask_client(address: str | None, timeout: float = CONNECT_TIMEOUT) -> Iterator[Client | None]:
    """A client of the scheduler at ``address`` (closed on exit), or None to run here.

    None when no address is set, and also inside a task already running on a Dask worker (a
    backfill day): that task holds a worker thread, so sending its tiles to the same cluster
    could wait forever for threads held by the other days. Its tiles run in the task instead.

    Raises:
        ConfigError: the scheduler cannot be reached; names the address and the setting.
    """
    if not address or on_dask_worker():
        yield None
        return
    from distributed import Client

    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise ConfigError(
            f"cannot reach the Dask scheduler at {address!r} within {timeout:g} s "
            f"(setting dask_address / SMPROD_DASK_ADDRESS; unset it to run locally): {err}"
        ) from err
    try:
        yield client
    finally:
        client.close()


def on_dask_worker() -> bool:
    """True inside a task that a Dask worker is running."""
    try:
        from distributed import get_worker
    except ImportError:
        return False
    try:
        get_worker()
    except ValueError:
        return False
    return True
