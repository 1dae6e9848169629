"""MLflow set-up the library needs: experiments whose artifacts go where the caller says.

With a database tracking store MLflow would otherwise put artifacts in ``./mlruns`` of whatever
directory the process runs in; every smprod experiment is created with an explicit artifact
location (the embedded stack's ``stack/mlflow-artifacts``, or the server's default when the
caller passes None).

MLflow 3's UI opens an experiment on what its kind tag says: without the tag it guesses, and
may open a GenAI overview ("No data available") instead of the runs. smprod's experiments are
tagged :data:`EXPERIMENT_KIND_TAG` = :data:`CUSTOM_MODEL_DEVELOPMENT` (the value the UI's own
"experiment type" selector writes), so they open on the runs table. That table shows no metric
column until someone picks them; the training experiment therefore also holds a *shared view*
(the UI's "share" feature: the view state as JSON in the experiment tag
``mlflow.sharedViewState.<key>``, opened by ``?viewStateShareKey=<key>``) whose columns are the
review metrics (:data:`REVIEW_COLUMNS`), and the link smprod prints opens the runs tab with it,
in the UI's model-training mode (:func:`runs_url`: the bare experiment URL opens the GenAI
overview in a browser that never chose a mode, tag or not). Both were read off the mlflow 3.17
UI bundle (``server/js/build``) and are checked in Chromium (``tests/browser/test_mlflow_ui.py``).
"""

from __future__ import annotations

import json

from mlflow import MlflowClient

#: Experiment names used by smprod.
TRAINING_EXPERIMENT = "smprod-training"
VALIDATION_EXPERIMENT = "smprod-validation"
#: The experiment tag MLflow 3's UI reads to choose an experiment's default page, and the value
#: for classic model training (its runs table), not GenAI development (traces, overview).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
CUSTOM_MODEL_DEVELOPMENT = "custom_model_development"
#: The training experiment's shared view of the runs table: tag prefix (the UI's) and key.
SHARED_VIEW_TAG = "mlflow.sharedViewState."
REVIEW_VIEW_KEY = "smprod-review"
#: The UI mode (``workflowType``) whose navigation is about training runs, not GenAI traces.
WORKFLOW_TYPE = "machine_learning"
#: Metric columns of that view: in situ skill (``smprod.validation.report.review_metrics``, the
#: default 30-day window), then the training run's held-out and split scores.
REVIEW_COLUMNS = (
    "insitu_ubrmse_30d", "insitu_r_30d", "insitu_bias_30d", "insitu_n_30d",
    "insitu_ubrmse_30d_bilinear", "insitu_ubrmse_30d_smap", "insitu_ubrmse_90d",
    "holdout_ubrmse", "holdout_r", "temporal_ubrmse", "spatial_ubrmse", "uncertainty_coverage_1sigma",
)  # fmt: skip
#: Of the UI's default columns (source, models, dataset) the models one, which names the version:
#: the metrics come right after the run's name, date and duration.
DEFAULT_COLUMNS = ("attributes.`Models`",)


def ensure_experiment(tracking_uri: str, name: str, artifact_root: str | None) -> str:
    """Id of experiment ``name``, created with artifacts under ``artifact_root/name`` if new."""
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = f"{artifact_root.rstrip('/')}/{name}" if artifact_root else None
        experiment_id = str(client.create_experiment(name, artifact_location=location))
    else:
        experiment_id = str(experiment.experiment_id)
    mark_custom_model_experiment(client, experiment_id, review_view=name == TRAINING_EXPERIMENT)
    return experiment_id


def review_view_state() -> str:
    """The shared view's state as the UI stores it: the runs table, newest first, with the
    default columns and :data:`REVIEW_COLUMNS` (``metrics.`name```, the UI's column keys)."""
    columns = [*DEFAULT_COLUMNS, *(f"metrics.`{name}`" for name in REVIEW_COLUMNS)]
    state = {"orderByKey": "attributes.start_time", "orderByAsc": False, "selectedColumns": columns}
    return json.dumps(state, separators=(",", ":"))


def mark_custom_model_experiment(client: MlflowClient, experiment_id: str, review_view: bool = True) -> None:
    """Tag the experiment as model development (opens on its runs) and, with ``review_view``,
    give it the review view of :func:`runs_url`; tags that already say so are left alone (an
    experiment created before smprod set them gets them here)."""
    wanted = {EXPERIMENT_KIND_TAG: CUSTOM_MODEL_DEVELOPMENT}
    if review_view:
        wanted[SHARED_VIEW_TAG + REVIEW_VIEW_KEY] = review_view_state()
    tags = client.get_experiment(experiment_id).tags
    for key, value in wanted.items():
        if tags.get(key) != value:
            client.set_experiment_tag(experiment_id, key, value)


def runs_url(ui_base: str, experiment_id: str) -> str:
    """The MLflow UI page of an experiment's runs table with the review view, in the UI's
    model-training mode: ``<ui>/#/experiments/<id>/runs?workflowType=machine_learning&
    viewStateShareKey=smprod-review``.

    The path and ``workflowType`` are needed: the UI's mode is a per-browser setting that starts
    as GenAI, and in that mode a bare ``#/experiments/<id>`` opens the GenAI overview whatever
    the experiment's kind tag says (mlflow 3.17)."""
    query = f"workflowType={WORKFLOW_TYPE}&viewStateShareKey={REVIEW_VIEW_KEY}"
    return f"{ui_base.rstrip('/')}/#/experiments/{experiment_id}/runs?{query}"


def training_runs_url(tracking_uri: str, ui_base: str) -> str | None:
    """:func:`runs_url` of the training experiment at an MLflow UI on ``ui_base``; None before
    the first training (no such experiment yet)."""
    experiment = MlflowClient(tracking_uri=tracking_uri).get_experiment_by_name(TRAINING_EXPERIMENT)
    return None if experiment is None else runs_url(ui_base, str(experiment.experiment_id))
