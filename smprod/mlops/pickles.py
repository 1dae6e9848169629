"""Models registered before the stage packages still load.

A registered model is pickled: MLflow's ``python_model.pkl`` names the module of
:class:`~smprod.mlops.lifecycle.DownscalerPyfunc` and the Downscaler's ``model.joblib`` names
the module of :class:`~smprod.science.models.Downscaler`. Until the stage packages (December
2026) those modules were ``smprod.lifecycle`` and ``smprod.models.base``; a champion registered
then is loaded with those names resolving to the modules the classes live in now, so upgrading
never forces a retrain.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager

#: Module a pickled class named before the stage packages -> the module that holds it now.
MOVED_MODULES = {
    "smprod.lifecycle": "smprod.mlops.lifecycle",
    "smprod.models": "smprod.science.models",
    "smprod.models.base": "smprod.science.models",
}


@contextmanager
def moved_modules_importable() -> Iterator[None]:
    """Within the block, the old module names of :data:`MOVED_MODULES` import their new modules
    (only names no real module holds; removed again afterwards)."""
    added = []
    for old, new in MOVED_MODULES.items():
        if old not in sys.modules:
            sys.modules[old] = importlib.import_module(new)
            added.append(old)
    try:
        yield
    finally:
        for old in added:
            sys.modules.pop(old, None)
