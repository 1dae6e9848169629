"""The provenance record: contract fields, hand-computed QA fractions, stable serialisation."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
from numpy.testing import assert_allclose

from smprod.grids.ease import region_from_bbox
from smprod.product.provenance import (
    ModelInfo,
    ProductInfo,
    provenance_bytes,
    provenance_record,
    qa_fractions,
    software_versions,
)
from smprod.qa import QA

CONTRACT_KEYS = {
    "day", "product_id", "region", "model", "inputs", "coarse_product", "smap_release",
    "precip_run", "qa_fractions", "software", "parameters",
}  # fmt: skip


def test_qa_fractions_are_over_valid_pixels() -> None:
    sm = np.array([0.1, 0.2, 0.3, np.nan])
    qa = np.array([QA.VALUE_CLIPPED, QA.VALUE_CLIPPED | QA.COARSE_MISSING, 0, QA.NO_RETRIEVAL], np.uint8)
    fractions = qa_fractions(sm, qa)
    assert_allclose(fractions["value_clipped"], 2 / 3, atol=1e-6)
    assert_allclose(fractions["coarse_missing"], 1 / 3, atol=1e-6)
    assert_allclose(fractions["no_retrieval"], 1 / 4)
    assert fractions["lesser_precip"] == 0.0


def test_record_holds_the_contract_fields_and_serialises_stably() -> None:
    region = region_from_bbox((-100.0, 34.0, -99.0, 35.0))
    info = ProductInfo(
        date(2024, 6, 1), region, ModelInfo("m", "1", "r", "xgboost"), {"IMERG": ["z", "a"]},
        "SPL3SMP", "R19240_001", "Final", software_versions(), {"porosity": 0.5},
    )  # fmt: skip
    sm = np.full(region.fine.shape, 0.25)
    record = provenance_record(info, sm, np.zeros(sm.shape, np.uint8), {})
    assert record.keys() >= CONTRACT_KEYS
    assert record["region"]["crs"] == "EPSG:6933"
    assert record["region"]["shape"] == list(region.fine.shape)
    assert record["region"]["transform"] == list(region.fine.transform)[:6]
    assert record["inputs"] == {"IMERG": ["a", "z"]}
    assert record["statistics"]["mean"] == 0.25
    assert record["thumbnail"]["colour_scale"]["max"] == 0.5
    text = provenance_bytes(record)
    assert json.loads(text) == record
    assert text == provenance_bytes(json.loads(text))


def test_values_json_cannot_hold_are_refused() -> None:
    with pytest.raises(ValueError):
        provenance_bytes({"parameters": {"x": float("nan")}})
    with pytest.raises(TypeError):
        provenance_bytes({"parameters": {"x": np.float32(1.0)}})
