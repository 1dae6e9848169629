"""QA bits decoded by name."""

from __future__ import annotations

import pytest

from smprod.qa import QA, flag_names


@pytest.mark.parametrize(
    ("value", "names"),
    [
        (0, ()),
        (QA.MODIS_GAP_FILLED | QA.OUT_OF_TRAINING_RANGE, ("modis_gap_filled", "out_of_training_range")),
        (int(QA.NO_RETRIEVAL), ("no_retrieval",)),
        (1 << 6 | QA.COARSE_MISSING, ("coarse_missing", "bit_6")),  # bit 6 is not defined (yet)
    ],
)
def test_flag_names_lists_the_bits_set_lowest_first(value: int, names: tuple[str, ...]) -> None:
    assert flag_names(value) == names


def test_every_defined_bit_has_its_own_name() -> None:
    every = sum(int(flag) for flag in QA)  # type: ignore[attr-defined]
    assert flag_names(every) == tuple((flag.name or "").lower() for flag in QA)  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", [-1, 256])
def test_a_value_outside_uint8_is_refused(value: int) -> None:
    with pytest.raises(ValueError, match=f"QA value {value} is not a uint8"):
        flag_names(value)
