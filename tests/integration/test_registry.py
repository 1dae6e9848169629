"""Champion/challenger aliases and the promotion history, on a real MLflow store in PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date

import mlflow
import pytest
import sqlalchemy as sa

from smprod import db
from smprod.errors import ModelError
from smprod.registry import (
    CHALLENGER,
    CHAMPION,
    apply_decision,
    client_for,
    decide_promotion,
    promote_manual,
    promotion_history,
    register_challenger,
    rollback,
    version_by_alias,
)

pytestmark = pytest.mark.integration


class _Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [0.25] * len(model_input)


@pytest.fixture
def tracking_uri(pg_server, tmp_path):
    name = f"mlflow_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f'CREATE DATABASE "{name}";')
    return db.normalise_url(pg_server.get_uri().replace("/postgres?", f"/{name}?", 1))


def _log_version(tracking_uri: str, tmp_path, name: str) -> tuple[str, str]:
    client = client_for(tracking_uri)
    exp = client.get_experiment_by_name("t") or client.get_experiment(
        client.create_experiment("t", artifact_location=(tmp_path / "artifacts").as_uri())
    )
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(experiment_id=exp.experiment_id) as run:
        info = mlflow.pyfunc.log_model(name="model", python_model=_Constant())
    version = register_challenger(client, name, info.model_uri, run.info.run_id)
    return str(version.version), run.info.run_id


def test_first_version_becomes_champion_and_worse_challenger_is_rejected(
    tracking_uri, database_url, tmp_path
):
    client = client_for(tracking_uri)
    engine = db.make_engine(database_url)
    name = "smprod-test"
    v1, _ = _log_version(tracking_uri, tmp_path, name)
    assert str(version_by_alias(client, name, CHALLENGER).version) == v1
    apply_decision(client, engine, name, v1, decide_promotion("ubrmse", 0.030, None, None), date(2024, 6, 1))
    assert str(version_by_alias(client, name, CHAMPION).version) == v1

    v2, _ = _log_version(tracking_uri, tmp_path, name)
    decision = decide_promotion("ubrmse", 0.041, 0.030, v1)
    assert not decision.promote and "does not beat" in decision.reason
    apply_decision(client, engine, name, v2, decision, date(2024, 6, 8))
    assert str(version_by_alias(client, name, CHAMPION).version) == v1
    assert str(version_by_alias(client, name, CHALLENGER).version) == v2
    assert client.get_model_version(name, v2).tags["promotion.decision"] == "reject"
    assert "does not beat" in client.get_model_version(name, v1).tags[f"promotion.vs_v{v2}"]

    v3, _ = _log_version(tracking_uri, tmp_path, name)
    apply_decision(client, engine, name, v3, decide_promotion("ubrmse", 0.025, 0.030, v1), date(2024, 6, 15))
    assert str(version_by_alias(client, name, CHAMPION).version) == v3
    assert [row.action for row in promotion_history(engine, name)] == ["promote", "reject", "promote"]

    assert rollback(client, engine, name) == v1
    assert str(version_by_alias(client, name, CHAMPION).version) == v1
    promote_manual(client, engine, name, v2, "operator override")
    assert str(version_by_alias(client, name, CHAMPION).version) == v2
    with engine.connect() as conn:
        actions = conn.execute(sa.text("SELECT action FROM model_promotions ORDER BY id")).scalars().all()
    assert actions == ["promote", "reject", "promote", "rollback", "manual_promote"]


def test_rollback_without_history_is_a_clear_error(tracking_uri, database_url, tmp_path):
    client = client_for(tracking_uri)
    engine = db.make_engine(database_url)
    with pytest.raises(ModelError, match="no champion"):
        rollback(client, engine, "nothing-here")
    with pytest.raises(ModelError, match="no version"):
        promote_manual(client, engine, "nothing-here", "7", "x")


def test_unknown_metric_is_refused():
    with pytest.raises(ModelError, match="unknown"):
        decide_promotion("accuracy", 1.0, 0.5, "1")


@pytest.mark.parametrize(
    "metric, challenger, champion, wins", [("r", 0.8, 0.7, True), ("rmse", 0.05, 0.04, False)]
)
def test_metric_direction(metric, challenger, champion, wins):
    assert decide_promotion(metric, challenger, champion, "1").promote is wins
