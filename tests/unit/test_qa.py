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
        (1 << 6 | QA.COARSE_MISSING, ("coarse_missing", "precip_filled")),
    ],
)
def test_flag_names_lists_the_bits_set_lowest_first(value: int, names: tuple[str, ...]) -> None:
    assert flag_names(value) == names


def test_a_bit_this_version_does_not_define_is_decoded_by_number(monkeypatch) -> None:
    import smprod.qa

    older = {bit: name for bit, name in smprod.qa.QA_DESCRIPTIONS.items() if bit != QA.PRECIP_FILLED}
    monkeypatch.setattr(smprod.qa, "QA_DESCRIPTIONS", older)  # as a version before bit 6 saw it
    assert flag_names(1 << 6 | QA.COARSE_MISSING) == ("coarse_missing", "bit_6")


def test_bits_keep_their_numbers() -> None:
    numbers = {(flag.name or "").lower(): flag.bit_length() - 1 for flag in QA}  # type: ignore[attr-defined]
    assert numbers == {
        "coarse_missing": 0, "modis_gap_filled": 1, "value_clipped": 2, "out_of_training_range": 3,
        "lesser_precip": 4, "smap_lag_filled": 5, "precip_filled": 6, "no_retrieval": 7,
    }  # fmt: skip


def test_every_defined_bit_has_its_own_name() -> None:
    every = sum(int(flag) for flag in QA)  # type: ignore[attr-defined]
    assert flag_names(every) == tuple((flag.name or "").lower() for flag in QA)  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", [-1, 256])
def test_a_value_outside_uint8_is_refused(value: int) -> None:
    with pytest.raises(ValueError, match=f"QA value {value} is not a uint8"):
        flag_names(value)
