"""When the daily run retrains the model: a pure decision from facts the caller gathers.

Rules (issue 5), first match wins:
1. there is no champion;
2. the champion is older than ``max_age_days`` (by the day it was trained for, not wall time,
   so backfills of old days do not retrain on every day);
3. in situ validation over the last window is worse than the threshold (ubRMSE above it),
   with at least ``min_n`` matchups behind the figure.

The in situ figure is the champion's latest overall row of ``validation_metrics`` for the
:data:`INSITU_WINDOW` window and the :data:`INSITU_VARIANT` variant, read by
:func:`insitu_skill` (the one query of the policy; :func:`decide_retrain` stays pure).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

#: The in situ figure rule 3 reads: all stations pooled (scope ``overall``), over the 30-day
#: rolling window (its label in ``validation_metrics``, :func:`smprod.validation.windows.rolling_window`),
#: of the published, mass-corrected product.
INSITU_SCOPE = "overall"
INSITU_WINDOW = "30d"
INSITU_VARIANT = "corrected"


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


def insitu_skill(
    engine: Engine, model_version: str, window_name: str = INSITU_WINDOW, variant: str = INSITU_VARIANT
) -> tuple[float | None, int]:
    """The latest overall in situ ubRMSE of ``model_version`` and the matchups behind it.

    Returns:
        ``(ubrmse, n)`` of the newest ``computed_for`` row; ``(None, 0)`` without a row (the
        model was never validated over that window), ``(None, n)`` for a row without ubRMSE.

    Raises:
        DatabaseError: the database cannot be reached.
    """
    import sqlalchemy as sa

    from smprod.db import outage_as_error
    from smprod.validation.tables import ValidationMetric as M

    query = (
        sa.select(M.ubrmse, M.n)
        .where(M.scope == INSITU_SCOPE, M.window_name == window_name)
        .where(M.variant == variant, M.model_version == model_version)
        .order_by(M.computed_for.desc())
        .limit(1)
    )
    operation = f"reading the in situ skill of model v{model_version}"
    with outage_as_error(engine.url, operation), engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None, 0
    return (float(row.ubrmse) if row.ubrmse is not None else None, int(row.n))
