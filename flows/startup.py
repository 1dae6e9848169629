"""A command's start-up without the cyclic garbage collector.

Importing the command line and what a command needs (typer, pydantic, numpy, rasterio, ...) makes
about a million objects that live as long as the process, and no garbage worth collecting; the
collector still ran about 150 times over them while they were made (0.1-0.2 s of ``smprod
series``, issue 19). :func:`importing` pauses it for such imports and then freezes what exists,
so that later collections, which run as usual, do not walk those objects again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def importing() -> Iterator[None]:
    """Run the block (imports) with the collector paused, then move every object alive to the
    permanent generation (:func:`gc.freeze`) and resume the collector if it was running."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
