"""When the daily run retrains the model: a pure decision from facts the caller gathers.

Rules (issue 5), first match wins:
1. there is no champion;
2. the champion is older than ``max_age_days`` (by the day it was trained for, not wall time,
   so backfills of old days do not retrain on every day);
3. in situ validation over the last window is worse than the threshold (ubRMSE above it),
   with at least ``min_n`` matchups behind the figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class ChampionFacts:
    """What the policy needs to know about the current champion."""

    version: str
    trained_through: date
    insitu_ubrmse: float | None = None
    insitu_n: int = 0


@dataclass(frozen=True)
class RetrainDecision:
    """The policy's verdict and the reason, logged by the daily run."""

    retrain: bool
    reason: str


def decide_retrain(
    day: date,
    champion: ChampionFacts | None,
    max_age_days: int,
    insitu_ubrmse_threshold: float,
    min_n: int = 10,
) -> RetrainDecision:
    """Decide whether producing ``day`` needs a new model first."""
    if champion is None:
        return RetrainDecision(True, "no champion model is registered")
    age = (day - champion.trained_through).days
    if age > max_age_days:
        return RetrainDecision(
            True,
            f"champion v{champion.version} trained through {champion.trained_through} is {age} days "
            f"old for {day} (limit {max_age_days})",
        )
    if (
        champion.insitu_ubrmse is not None
        and champion.insitu_n >= min_n
        and champion.insitu_ubrmse > insitu_ubrmse_threshold
    ):
        return RetrainDecision(
            True,
            f"in situ ubRMSE {champion.insitu_ubrmse:.4f} m3/m3 over {champion.insitu_n} matchups "
            f"exceeds {insitu_ubrmse_threshold:.4f}",
        )
    return RetrainDecision(False, f"champion v{champion.version} is current ({age} days old)")
