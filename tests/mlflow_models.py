"""A tiny real MLflow model for registry tests (the science is tested elsewhere)."""

from __future__ import annotations

from pathlib import Path

import mlflow

from smprod.mlops.registry import client_for, register_challenger
from smprod.mlops.tracking import ensure_experiment


class ConstantModel(mlflow.pyfunc.PythonModel):
    """Predicts 0.25 m3/m3 everywhere."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return [0.25] * len(model_input)


def log_and_register(
    tracking_uri: str, artifacts: Path, name: str, metrics: dict[str, float]
) -> tuple[str, str]:
    """Log a run with ``metrics`` and a constant model, register it as challenger of ``name``.

    Returns:
        (version, run id)
    """
    experiment = ensure_experiment(tracking_uri, "smprod-training", artifacts.as_uri())
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_metrics(metrics)
        info = mlflow.pyfunc.log_model(name="model", python_model=ConstantModel())
    version = register_challenger(client_for(tracking_uri), name, info.model_uri, run.info.run_id)
    return str(version.version), run.info.run_id
