"""SIF as a predictor (the ``use_sif`` setting): the training table and the 1 km features carry it
only for a model trained with it, and a model predicts from its own list whatever the setting."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from smprod import db
from smprod.config import Settings
from smprod.errors import MissingInputError
from smprod.inputs.dayfiles import SIF, InputStore
from smprod.inputs.ingest import add_sif
from smprod.inputs.sources import ArchiveSource
from smprod.layout import WorkLayout
from smprod.mlops.lifecycle import TrainingSpec, fit_calibrated, split_holdout
from smprod.science.features import PREDICTORS, fine_features, predictor_names
from smprod.science.predict import predict_region
from smprod.science.training import training_table


@pytest.fixture(scope="module")
def with_sif(small_world, tmp_path_factory):
    """The small world's inputs with SIF added to every day (``add_sif``), in a layout of their own."""
    layout = WorkLayout(tmp_path_factory.mktemp("with_sif"))
    engine = db.make_engine(small_world.database_url)
    source = ArchiveSource(small_world.archive)
    for day in small_world.days:
        shutil.copytree(small_world.layout.inputs_dir(day), layout.inputs_dir(day))
        add_sif(day, small_world.region, source, layout, engine)
    return InputStore(layout)


def _model(small_world, store, predictors):
    table = training_table(small_world.days[8:], small_world.region, store, 0.0, predictors)
    return fit_calibrated("rf", *split_holdout(table), predictors=predictors)[0]


def test_the_setting_adds_sif_to_the_predictor_list_last():
    assert predictor_names() == PREDICTORS and SIF not in PREDICTORS
    assert predictor_names(use_sif=True) == (*PREDICTORS, SIF)
    assert Settings().use_sif is False


def test_the_setting_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("SMPROD_USE_SIF", "true")
    assert Settings().use_sif is True


def test_a_training_spec_with_sif_trains_on_it(small_world):
    spec = TrainingSpec(small_world.days[-1], 14, small_world.region, "SPL3SMP", "rf", "m", use_sif=True)
    assert spec.predictors[-1] == SIF and spec.model_settings[-1] == spec.predictors


def test_sif_is_in_the_training_table_and_the_features_only_when_asked(small_world, with_sif):
    day = small_world.days[12]
    table = training_table([day], small_world.region, with_sif, 0.0, predictor_names(True))
    assert SIF in table and np.isfinite(table[SIF]).all() and len(table) > 0
    assert SIF not in training_table([day], small_world.region, with_sif, 0.0)
    frame, _ = fine_features(day, small_world.region, with_sif, predictors=predictor_names(True))
    assert list(frame.columns) == list(predictor_names(True)) and np.isfinite(frame[SIF]).all()
    assert SIF not in fine_features(day, small_world.region, with_sif)[0]


def test_each_model_predicts_from_its_own_predictor_list(small_world, with_sif):
    day, region = small_world.days[-1], small_world.region
    without = _model(small_world, with_sif, PREDICTORS)
    assert without.predictors == PREDICTORS
    # without SIF: the same field whether or not the day files hold SIF
    assert_array_equal(
        predict_region(without, day, region, with_sif).values,
        predict_region(without, day, region, InputStore(small_world.layout)).values,
    )
    sif_model = _model(small_world, with_sif, predictor_names(True))
    assert sif_model.predictors[-1] == SIF and SIF in sif_model.ranges
    assert np.isfinite(predict_region(sif_model, day, region, with_sif).values).mean() > 0.9
    # with SIF: it needs SIF, and says so where the inputs have none
    with pytest.raises(MissingInputError, match="sif"):
        predict_region(sif_model, day, region, InputStore(small_world.layout))


def test_sif_of_the_day_and_of_its_gap_filling_days_enters_the_input_key(small_world, with_sif):
    from smprod.product.produce import ProductSettings, input_key

    day, settings = small_world.days[12], ProductSettings("SPL3SMP")
    plain = input_key(InputStore(small_world.layout), day, small_world.region, settings).components
    keyed = input_key(with_sif, day, small_world.region, settings).components
    assert SIF in keyed["day"]["fine"] and SIF not in plain["day"]["fine"]
    changed = [
        d for d in plain["gap_filling_days"] if plain["gap_filling_days"][d] != keyed["gap_filling_days"][d]
    ]
    assert changed == sorted(plain["gap_filling_days"])  # every neighbour's SIF is read by gap filling
