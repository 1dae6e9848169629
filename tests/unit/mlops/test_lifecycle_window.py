"""A training window with too few samples is refused in one message; review plots of empty
data are skipped with a note instead of crashing."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from smprod.errors import ModelError
from smprod.grids.ease import region_from_bbox
from smprod.inputs.window import training_days
from smprod.mlops.lifecycle import MIN_FIT_SAMPLES, split_window
from smprod.mlops.review_plots import residual_map, scatter, write_all
from smprod.science.features import PREDICTORS
from smprod.science.models import make_model
from smprod.science.training import TABLE_COLUMNS, WindowSamples

END = date(2024, 5, 30)


def _table(days: list[date], cells: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(days) * cells
    table = pd.DataFrame({name: rng.normal(size=n) for name in PREDICTORS})
    table["sm"] = 0.25 + 0.03 * np.tanh(table["sm_lag3"]) + rng.normal(0, 0.01, n)
    table["day"] = np.repeat(days, cells)
    table["cell"] = np.tile(np.arange(cells), len(days))
    return table


def test_enough_samples_split_off_the_last_five_days():
    days = training_days(END, 10)
    samples = WindowSamples(tuple(days), _table(days, 20), (), ())
    fit, holdout = split_window(samples)
    assert len(fit) == 100 and len(holdout) == 100
    assert set(holdout["day"]) == set(days[-5:])


def test_too_few_samples_name_the_counts_and_the_missing_days():
    days = training_days(END, 60)
    with_samples = days[-7:]  # 05-24..05-30: 2 days to fit, 5 held out, 4 cells each
    samples = WindowSamples(
        tuple(days),
        _table(with_samples, 4),
        missing=tuple(days[:30]),  # 04-01..04-30: not ingested
        incomplete=tuple(days[30:53]),  # 05-01..05-23: ingested, no complete sample
    )
    with pytest.raises(ModelError) as err:
        split_window(samples)
    message = str(err.value)
    assert message.startswith("too few samples to train on the window 2024-04-01..2024-05-30 (60 days)")
    assert "30 days with inputs, 7 of them with complete coarse samples, 28 samples (8 to fit" in message
    assert "20 held out on the last 5 days" in message
    assert f"at least {MIN_FIT_SAMPLES} to fit" in message
    assert "days missing: 2024-04-01..2024-04-30" in message
    assert "days without a complete sample" in message and "2024-05-01..2024-05-23" in message
    assert "training_window_days" in message and "--window-days" in message


def test_a_window_without_any_ingested_day_is_the_same_message():
    days = training_days(END, 10)
    empty = pd.DataFrame(columns=TABLE_COLUMNS)
    with pytest.raises(
        ModelError, match=r"0 days with inputs, 0 of them .* 0 samples \(0 to fit, 0 held out"
    ):
        split_window(WindowSamples(tuple(days), empty, tuple(days), ()))


def test_review_plots_of_empty_data_are_skipped_with_a_note(tmp_path):
    days = [END - timedelta(days=k) for k in range(8)]
    table = _table(days, 10)
    model = make_model("rf", PREDICTORS).fit(table[list(PREDICTORS)], table["sm"].to_numpy())
    region = region_from_bbox((-100.0, 34.0, -98.0, 35.5), 36)
    empty = table.iloc[0:0]
    note = scatter(np.empty(0), np.empty(0), "temporal split: predicted vs SMAP", tmp_path / "s.png")
    assert note == "s.png skipped: the temporal split has no test sample"
    assert (
        residual_map(model, empty, region, tmp_path / "r.png")
        == "r.png skipped: no held-out day with samples"
    )
    assert not (tmp_path / "s.png").exists() and not (tmp_path / "r.png").exists()
    splits = {"temporal": (np.empty(0), np.empty(0)), "spatial": (np.full(3, 0.2), np.array([0.1, 0.2, 0.3]))}
    notes = write_all(model, table, table.iloc[:30], splits, region, tmp_path / "plots")
    assert notes == ["scatter_temporal.png skipped: the temporal split has no test sample"]
    assert (tmp_path / "plots" / "scatter_spatial.png").exists()
    assert (tmp_path / "plots" / "residual_map_holdout_day.png").exists()
