"""Rolling windows and meteorological seasons."""

from __future__ import annotations

from datetime import date

import pytest

from smprod.validation.windows import rolling_window, season_of, windows_for


def test_rolling_window_includes_its_last_day_and_has_its_length():
    window = rolling_window(date(2024, 3, 30), 30)
    assert (window.start, window.end, window.label) == (date(2024, 3, 1), date(2024, 3, 30), "30d")
    assert window.contains(date(2024, 3, 1)) and window.contains(date(2024, 3, 30))
    assert not window.contains(date(2024, 2, 29)) and not window.contains(date(2024, 3, 31))


def test_seasons_are_meteorological():
    assert [season_of(date(2023, m, 15)) for m in (12, 1, 2, 3, 5, 6, 8, 9, 11)] == [
        "DJF", "DJF", "DJF", "MAM", "MAM", "JJA", "JJA", "SON", "SON",
    ]  # fmt: skip


def test_windows_for_gives_rolling_windows_then_seasons_of_the_longest():
    windows = windows_for(date(2024, 6, 30), (90, 30, 365, 30))
    assert [w.label for w in windows] == ["30d", "90d", "365d", "DJF", "MAM", "JJA", "SON"]
    djf = windows[3]
    assert djf.start == date(2023, 7, 2) and djf.end == date(2024, 6, 30)
    assert djf.contains(date(2024, 1, 10)) and not djf.contains(date(2024, 4, 10))
    assert not djf.contains(date(2023, 1, 10))  # winter outside the last 365 days


def test_bad_windows_are_refused():
    with pytest.raises(ValueError):
        rolling_window(date(2024, 1, 1), 0)
    with pytest.raises(ValueError, match="validation_windows"):
        windows_for(date(2024, 1, 1), ())
