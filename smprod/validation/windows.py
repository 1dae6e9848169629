"""The periods metrics are computed over: rolling windows and meteorological seasons.

A rolling window of ``w`` days "computed for" day D covers D-w+1 .. D inclusive (the last 30
days including D). Seasons are the meteorological ones (DJF, MAM, JJA, SON; WMO convention) and
are taken inside the longest configured window, so a seasonal row "computed for" D summarises
the last year (by default) split by season.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

#: Meteorological seasons by month (WMO): December belongs to the following winter's DJF.
SEASON_OF_MONTH = {
    12: "DJF", 1: "DJF", 2: "DJF",
    3: "MAM", 4: "MAM", 5: "MAM",
    6: "JJA", 7: "JJA", 8: "JJA",
    9: "SON", 10: "SON", 11: "SON",
}  # fmt: skip
SEASONS = ("DJF", "MAM", "JJA", "SON")


@dataclass(frozen=True)
class Window:
    """One period: days ``start`` .. ``end`` inclusive, optionally only those of one season.

    Attributes:
        label: the name stored in the database (``30d``, ``90d``, ``365d``, ``DJF``, ...).
        start, end: first and last day included.
        season: when set, only days of this season count.
    """

    label: str
    start: date
    end: date
    season: str | None = None

    def contains(self, day: date) -> bool:
        """Whether ``day`` falls in this window (and season)."""
        if not self.start <= day <= self.end:
            return False
        return self.season is None or season_of(day) == self.season


def season_of(day: date) -> str:
    """Meteorological season (``DJF``, ``MAM``, ``JJA`` or ``SON``) of a day."""
    return SEASON_OF_MONTH[day.month]


def rolling_window(end: date, days: int) -> Window:
    """The ``days``-day window ending on ``end`` (inclusive).

    Raises:
        ValueError: if ``days`` is not positive.
    """
    if days < 1:
        raise ValueError(f"a window needs at least 1 day, got {days}")
    return Window(f"{days}d", end - timedelta(days=days - 1), end)


def windows_for(end: date, window_days: tuple[int, ...]) -> list[Window]:
    """The rolling windows, then the four seasons inside the longest one, all ending on ``end``."""
    if not window_days:
        raise ValueError("at least one validation window is needed (setting validation_windows)")
    rolling = [rolling_window(end, days) for days in sorted(set(window_days))]
    longest = rolling[-1]
    seasonal = [Window(season, longest.start, end, season) for season in SEASONS]
    return rolling + seasonal
