"""Champion/challenger aliases and the promotion history, on a real MLflow store in PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from smprod import db
from smprod.errors import ModelError
from smprod.mlops.registry import (
    CHALLENGER,
    CHAMPION,
    apply_decision,
    client_for,
    decide_promotion,
    promote_manual,
    promotion_history,
    rollback,
    version_by_alias,
)
from tests.mlflow_models import log_and_register

pytestmark = pytest.mark.integration


def _log_version(tracking_uri: str, tmp_path, name: str) -> tuple[str, str]:
    return log_and_register(tracking_uri, tmp_path / "artifacts", name, {"ubrmse": 0.03})


def test_first_version_becomes_champion_and_worse_challenger_is_rejected(
    mlflow_tracking_uri, database_url, tmp_path
):
    tracking_uri = mlflow_tracking_uri
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


def test_rollback_without_history_is_a_clear_error(mlflow_tracking_uri, database_url, tmp_path):
    tracking_uri = mlflow_tracking_uri
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


def test_operator_commands_promote_list_and_roll_back(mlflow_tracking_uri, database_url, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    name = "smprod-cli"
    engine = db.make_engine(database_url)
    client = client_for(mlflow_tracking_uri)
    v1, _ = log_and_register(mlflow_tracking_uri, tmp_path / "artifacts", name, {"ubrmse": 0.03})
    apply_decision(client, engine, name, v1, decide_promotion("ubrmse", 0.03, None, None), None)
    v2, _ = log_and_register(mlflow_tracking_uri, tmp_path / "artifacts", name, {"ubrmse": 0.05})
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "SMPROD_DATABASE_URL": database_url,
        "SMPROD_MLFLOW_TRACKING_URI": mlflow_tracking_uri,
        "SMPROD_MODEL_NAME": name,
        "SMPROD_WORKDIR": str(tmp_path / "work"),
    }

    def cli(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "flows.cli", "model", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    assert cli("promote", v2, "--reason", "night shift override").returncode == 0
    listing = cli("list")
    assert listing.returncode == 0, listing.stderr
    assert (
        f"v{v2}  aliases: challenger, champion" in listing.stdout
        or f"v{v2}  aliases: champion" in listing.stdout
    )
    assert "night shift override" in listing.stdout
    back = cli("rollback")
    assert back.returncode == 0 and f"v{v1} is champion again" in back.stdout
    missing = cli("promote", "99")
    assert missing.returncode == 1 and "no version 99" in missing.stderr


def test_a_registry_that_cannot_be_read_is_an_outage_not_no_champion(stoppable_postgres):
    import time

    from smprod.errors import DatabaseError
    from tests.databases import DB_PASSWORD, with_password

    client = client_for(with_password(stoppable_postgres.database_url("mlflow")))
    assert version_by_alias(client, "smprod-test", CHAMPION) is None  # nothing registered yet
    stoppable_postgres.down_postgres()

    start = time.monotonic()
    with pytest.raises(DatabaseError, match=r"MLflow model registry .* unavailable") as info:
        version_by_alias(client, "smprod-test", CHAMPION)  # "no champion" would retrain
    assert time.monotonic() - start < 10
    assert DB_PASSWORD not in str(info.value)
