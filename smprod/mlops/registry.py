"""The model registry: challenger/champion aliases in MLflow and the promotion history.

MLflow keeps no history of alias moves, so every decision (automatic promotion, rejection,
manual promotion, rollback) is also written to the PostgreSQL table ``model_promotions`` and as
tags on the model versions involved, which the MLflow UI shows.

A new near-real-time version always gets the alias ``challenger``. It becomes ``champion`` when
there is no champion or when it beats the champion on the same held-out days by the configured
metric. A reanalysis version (tag ``training_mode=reanalysis``: trained on a window around the
days it made, days after them included) gets no alias and cannot be promoted: only the product
files it made point to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from smprod.db import OUTAGES, Base, session_scope
from smprod.errors import DatabaseError, ModelError

CHAMPION = "champion"
CHALLENGER = "challenger"
#: Version (and run) tag saying how the model was trained: ``near-real-time`` or ``reanalysis``.
TRAINING_MODE_TAG = "training_mode"

#: MLflow error codes of a lookup that found nothing (no such model; no such alias), as opposed
#: to a registry that could not be read.
NOT_FOUND_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})

#: Metrics a challenger can be judged by, and whether lower is better.
LOWER_IS_BETTER = {"ubrmse": True, "rmse": True, "mae": True, "abs_bias": True, "r": False, "r2": False}


class ModelPromotion(Base):
    """One registry decision: which version, what was compared, what was decided and why."""

    __tablename__ = "model_promotions"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_name: Mapped[str] = mapped_column(sa.String(200), index=True)
    version: Mapped[str] = mapped_column(sa.String(40))
    action: Mapped[str] = mapped_column(sa.String(40))  # promote | reject | manual_promote | rollback
    metric: Mapped[str | None] = mapped_column(sa.String(40))
    challenger_value: Mapped[float | None]
    champion_version: Mapped[str | None] = mapped_column(sa.String(40))
    champion_value: Mapped[float | None]
    evaluated_for: Mapped[date | None]
    reason: Mapped[str] = mapped_column(sa.Text)
    decided_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the challenger becomes champion, with the figures behind it."""

    promote: bool
    reason: str
    metric: str
    challenger_value: float | None
    champion_value: float | None
    champion_version: str | None


def decide_promotion(
    metric: str,
    challenger_value: float,
    champion_value: float | None,
    champion_version: str | None,
) -> PromotionDecision:
    """Compare a challenger with the champion on one metric over the same held-out days.

    Raises:
        ModelError: for a metric without a known direction.
    """
    if metric not in LOWER_IS_BETTER:
        raise ModelError(f"promotion metric {metric!r} unknown; use one of {sorted(LOWER_IS_BETTER)}")
    if champion_version is None or champion_value is None:
        return PromotionDecision(True, "no champion yet", metric, challenger_value, None, None)
    lower = LOWER_IS_BETTER[metric]
    wins = challenger_value < champion_value if lower else challenger_value > champion_value
    verb = "beats" if wins else "does not beat"
    reason = (
        f"challenger {metric}={challenger_value:.5f} {verb} champion v{champion_version} "
        f"{metric}={champion_value:.5f} ({'lower' if lower else 'higher'} is better)"
    )
    return PromotionDecision(wins, reason, metric, challenger_value, champion_value, champion_version)


def client_for(tracking_uri: str) -> MlflowClient:
    """An MLflow client whose tracking and registry stores are both ``tracking_uri``."""
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def version_by_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version holding ``alias``, or None when the model or alias does not exist.

    Raises:
        DatabaseError: the registry cannot be read (its store is down). That is not "no
            champion", which would make the daily flow train a new model during an outage.
    """
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as err:
        if err.error_code in NOT_FOUND_CODES:
            return None
        raise _unavailable(name, alias, err.message) from err
    except OUTAGES as err:
        raise _unavailable(name, alias, " ".join(str(err.orig).split())) from err


def _unavailable(name: str, alias: str, reason: str) -> DatabaseError:
    return DatabaseError(
        f"the MLflow model registry (setting mlflow_tracking_uri) is unavailable while looking up "
        f"{name}@{alias}: {reason}. Rerun when it is back"
    )


def register_version(
    client: MlflowClient, name: str, model_uri: str, run_id: str, tags: dict[str, str] | None = None
) -> ModelVersion:
    """Register ``model_uri`` as a new version of ``name`` (created if new), with ``tags``, and no
    alias: a reanalysis model is registered this way, so it is never challenger or champion."""
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description="smprod 1 km soil-moisture downscaling model (coarse-scale regression)."
        )
    return client.create_model_version(name, model_uri, run_id=run_id, tags=tags)


def register_challenger(client: MlflowClient, name: str, model_uri: str, run_id: str) -> ModelVersion:
    """Register ``model_uri`` as a new version of ``name`` and give it the alias challenger."""
    version = register_version(client, name, model_uri, run_id, {TRAINING_MODE_TAG: "near-real-time"})
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    return version


def apply_decision(
    client: MlflowClient,
    engine: Engine,
    name: str,
    version: str,
    decision: PromotionDecision,
    evaluated_for: date | None,
) -> None:
    """Move the champion alias if promoted; record the decision on both versions and in the DB."""
    action = "promote" if decision.promote else "reject"
    if decision.promote:
        client.set_registered_model_alias(name, CHAMPION, version)
    tags = {
        "promotion.decision": action,
        "promotion.reason": decision.reason,
        "promotion.metric": decision.metric,
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    if decision.champion_version is not None:
        client.set_model_version_tag(
            name, decision.champion_version, f"promotion.vs_v{version}", f"{action}: {decision.reason}"
        )
    _record(engine, name, version, action, decision, evaluated_for)


def promote_manual(client: MlflowClient, engine: Engine, name: str, version: str, reason: str) -> None:
    """Operator promotion of an existing version (``smprod model promote``)."""
    try:
        found = client.get_model_version(name, version)
    except MlflowException as err:
        raise ModelError(f"model {name!r} has no version {version}") from err
    if (found.tags or {}).get(TRAINING_MODE_TAG) == "reanalysis":
        raise ModelError(
            f"{name} v{version} is a reanalysis model (trained on days after the days it made, for "
            "one block of a backfill): it cannot be champion of the daily near-real-time run"
        )
    current = version_by_alias(client, name, CHAMPION)
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(name, version, "promotion.decision", "manual_promote")
    decision = PromotionDecision(
        True, reason, "manual", None, None, current.version if current is not None else None
    )
    _record(engine, name, version, "manual_promote", decision, None)


def rollback(client: MlflowClient, engine: Engine, name: str) -> str:
    """Give the champion alias back to the version that held it before the current one.

    Returns:
        The version that is champion after the rollback.

    Raises:
        ModelError: when there is no earlier champion to return to.
    """
    current = version_by_alias(client, name, CHAMPION)
    if current is None:
        raise ModelError(f"model {name!r} has no champion to roll back from")
    previous = _previous_champion(engine, name, str(current.version))
    if previous is None:
        raise ModelError(f"model {name!r}: no champion before v{current.version} is recorded")
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_model_version_tag(name, current.version, "promotion.decision", "rolled_back")
    decision = PromotionDecision(
        True, f"rollback from v{current.version}", "manual", None, None, current.version
    )
    _record(engine, name, previous, "rollback", decision, None)
    return previous


def promotion_history(engine: Engine, name: str) -> list[ModelPromotion]:
    """All recorded decisions for ``name``, oldest first."""
    with session_scope(engine) as session:
        rows = session.scalars(
            sa.select(ModelPromotion).where(ModelPromotion.model_name == name).order_by(ModelPromotion.id)
        )
        return list(rows)


def _previous_champion(engine: Engine, name: str, current: str) -> str | None:
    # Walk the champion-making decisions backwards; the first other version is the previous one.
    made_champion = [
        row.version
        for row in promotion_history(engine, name)
        if row.action in ("promote", "manual_promote", "rollback")
    ]
    while made_champion and made_champion[-1] == str(current):
        made_champion.pop()
    return made_champion[-1] if made_champion else None


def _record(
    engine: Engine,
    name: str,
    version: str,
    action: str,
    decision: PromotionDecision,
    evaluated_for: date | None,
) -> None:
    with session_scope(engine) as session:
        session.add(
            ModelPromotion(
                model_name=name,
                version=str(version),
                action=action,
                metric=decision.metric,
                challenger_value=decision.challenger_value,
                champion_version=decision.champion_version,
                champion_value=decision.champion_value,
                evaluated_for=evaluated_for,
                reason=decision.reason,
            )
        )
