"""A model pickled under the module names before the stage packages still loads."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pandas as pd
import pytest

from smprod.mlops.pickles import MOVED_MODULES, moved_modules_importable
from smprod.science import models
from smprod.science.features import PREDICTORS


def _pickled_under_old_name() -> bytes:
    """A fitted Downscaler pickled as smprod 0.1.0 did: class in ``smprod.models.base``."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({name: rng.normal(size=80) for name in PREDICTORS})
    model = models.make_model("rf", PREDICTORS).fit(table, rng.normal(0.25, 0.02, 80))
    cls = models.Downscaler
    with moved_modules_importable():
        cls.__module__ = "smprod.models.base"
        try:
            return pickle.dumps(model)
        finally:
            cls.__module__ = "smprod.science.models"


def test_a_model_pickled_under_the_old_module_loads_as_todays_class():
    data = _pickled_under_old_name()
    assert b"smprod.models.base" in data
    with pytest.raises(ModuleNotFoundError):
        pickle.loads(data)
    with moved_modules_importable():
        model = pickle.loads(data)
    assert type(model) is models.Downscaler
    assert model.predict(pd.DataFrame({name: [0.0] for name in PREDICTORS})).shape == (1,)


def test_the_old_names_are_gone_after_the_block():
    with moved_modules_importable():
        assert all(sys.modules[old].__name__ == new for old, new in MOVED_MODULES.items())
    assert not any(old in sys.modules for old in MOVED_MODULES)
