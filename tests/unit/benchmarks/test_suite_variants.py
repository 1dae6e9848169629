"""The accuracy suite's with/without comparison (``--sif-variants``): the per-world ratios and the
adoption verdict, decided by the tuning worlds and never by the held-out ones."""

from __future__ import annotations

from datetime import date

import pytest

from benchmarks.suite import Scores, variant_lines
from smprod.synthetic.spec import SuiteWorld

WORLDS = [
    SuiteWorld("a", (0, 0, 1, 1), date(2024, 5, 1), 36),
    SuiteWorld("b", (0, 0, 1, 1), date(2024, 5, 1), 36),
    SuiteWorld("held", (0, 0, 1, 1), date(2024, 5, 1), 36, tuning=False),
]


def _results(without: list[float], with_: list[float]) -> dict[str, dict[str, Scores]]:
    return {
        w.name: {"product": Scores(a, 0, 0, 0, 0), "product-sif": Scores(b, 0, 0, 0, 0)}
        for w, a, b in zip(WORLDS, without, with_, strict=True)
    }


@pytest.mark.parametrize(
    ("with_", "verdict"),
    [
        ([0.80, 0.85, 0.70], "adopt"),  # median and worst of the tuning worlds lower, none worse
        ([0.80, 0.90, 0.70], "keep the default"),  # the tuning worst is not lower
        ([0.80, 0.85, 0.706], "keep the default"),  # a held-out world worse by more than 0.005
        ([0.90, 0.95, 0.60], "keep the default"),  # a held-out gain never decides
    ],
)
def test_the_verdict_follows_the_adoption_rule(with_, verdict):
    lines = variant_lines(WORLDS, _results([0.82, 0.90, 0.70], with_), "product", "product-sif")
    assert lines[-1].endswith(": " + verdict), lines[-1]


def test_one_row_per_world_with_its_role_and_change():
    lines = variant_lines(WORLDS, _results([0.82, 0.90, 0.70], [0.80, 0.85, 0.71]), "product", "product-sif")
    assert len(lines) == 1 + len(WORLDS) + 1
    assert lines[3].split() == ["held", "held-out", "0.700", "0.710", "+0.010"]
    assert "tuning median 0.860 -> 0.825" in lines[-1]
