"""Reanalysis training (issue 17, item 3): the block's own days are fitted on, never held out;
a rerun reuses the version its days were made with from the same window; the setting."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smprod.config import load_settings
from smprod.errors import ConfigError
from smprod.inputs.window import reanalysis_days
from smprod.layout import WorkLayout
from smprod.mlops.lifecycle import HOLDOUT_DAYS, reusable_reanalysis_version, split_holdout
from smprod.science.features import PREDICTORS
from tests.catalog_days import tiny_region, write_day

BLOCK = [date(2024, 6, 10) + timedelta(days=k) for k in range(3)]


def _table(days: list[date], cells: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    table = pd.DataFrame({name: rng.normal(size=len(days) * cells) for name in PREDICTORS})
    table["sm"] = 0.25
    table["day"] = np.repeat(days, cells)
    table["cell"] = np.tile(np.arange(cells), len(days))
    return table


def test_the_holdout_is_the_last_days_of_the_window_outside_the_block():
    at_end = reanalysis_days(BLOCK[0], BLOCK[-1], 12, latest=BLOCK[-1])  # the block ends the window
    fit, holdout = split_holdout(_table(at_end), keep=BLOCK)
    assert set(BLOCK) <= set(fit["day"])
    assert sorted(set(holdout["day"])) == [d for d in at_end if d not in BLOCK][-HOLDOUT_DAYS:]
    near_real_time = split_holdout(_table(at_end))[1]  # without keep: the most recent days
    assert sorted(set(near_real_time["day"])) == at_end[-HOLDOUT_DAYS:]


def test_a_rerun_reuses_the_version_made_from_the_same_window(tmp_path: Path):
    layout, region = WorkLayout(tmp_path), tiny_region()
    window = (date(2024, 6, 5), date(2024, 6, 16))
    assert reusable_reanalysis_version(layout, BLOCK, window) is None  # nothing published
    write_day(tmp_path, BLOCK[0], region, model_version="4", training_mode="reanalysis", window=window)
    assert reusable_reanalysis_version(layout, BLOCK, window) == "4"  # other days not made yet
    assert reusable_reanalysis_version(layout, BLOCK, (window[0], date(2024, 6, 17))) is None
    write_day(tmp_path, BLOCK[1], region, model_version="3", window=window)  # near-real-time
    assert reusable_reanalysis_version(layout, BLOCK, window) == "4"
    write_day(tmp_path, BLOCK[2], region, model_version="5", training_mode="reanalysis", window=window)
    assert reusable_reanalysis_version(layout, BLOCK, window) is None  # two versions: retrain


def test_training_mode_setting_defaults_to_near_real_time_and_blocks_fit_the_window():
    settings = load_settings(None)
    assert settings.training_mode == "near-real-time" and settings.reanalysis_block_days == 7
    assert load_settings(None, training_mode="reanalysis").training_mode == "reanalysis"
    with pytest.raises(ConfigError, match="training_mode"):
        load_settings(None, training_mode="hindcast")
    with pytest.raises(ConfigError, match="longer than the training window"):
        load_settings(None, training_window_days=10, reanalysis_block_days=11)
