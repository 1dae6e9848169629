"""MLflow set-up the library needs: experiments whose artifacts go where the caller says.

With a database tracking store MLflow would otherwise put artifacts in ``./mlruns`` of whatever
directory the process runs in; every smprod experiment is created with an explicit artifact
location (the embedded stack's ``stack/mlflow-artifacts``, or the server's default when the
caller passes None).
"""

from __future__ import annotations

from mlflow import MlflowClient

#: Experiment names used by smprod.
TRAINING_EXPERIMENT = "smprod-training"
VALIDATION_EXPERIMENT = "smprod-validation"


def ensure_experiment(tracking_uri: str, name: str, artifact_root: str | None) -> str:
    """Id of experiment ``name``, created with artifacts under ``artifact_root/name`` if new."""
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    location = f"{artifact_root.rstrip('/')}/{name}" if artifact_root else None
    return str(client.create_experiment(name, artifact_location=location))
