"""What people see of a validation: a printed table, an MLflow summary and PNG plots.

ISMN asks that its data be cited with the network wherever they are shown; every plot carries
that line (:data:`ISMN_CITATION`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from mlflow import MlflowClient

#: Order of variants in tables and plots (product first, baselines after).
VARIANT_ORDER = (
    "corrected", "uncorrected", "uncorrected_cell", "bilinear", "smap",
    "corrected_common", "bilinear_common", "smap_common",
)  # fmt: skip
#: Metrics with a 95 % interval (columns ``<metric>_ci_low`` / ``<metric>_ci_high``).
INTERVAL_METRICS = ("r", "bias", "rmse", "ubrmse")
#: Metrics logged to MLflow and shown in the table.
SUMMARY_METRICS = (
    "n", "n_eff", "r", "bias", "rmse", "ubrmse", "mae",
    *(f"{m}_ci_{bound}" for m in INTERVAL_METRICS for bound in ("low", "high")),
)  # fmt: skip
#: The triple-collocation systems, as in :data:`smprod.validation.collocation.SYSTEMS`.
COLLOCATION_SYSTEMS = ("product", "smap", "insitu")
#: Experiment the validation summaries are logged to.
EXPERIMENT = "smprod-validation"
#: Review metrics on a version's training run: the product (no suffix) and the baselines beside it.
REVIEW_VARIANTS = {
    "corrected": "", "bilinear": "_bilinear", "smap": "_smap",
    # the same three on the days all have a value (skill.with_common_days): the fair comparison
    "corrected_common": "_common", "bilinear_common": "_bilinear_common", "smap_common": "_smap_common",
}  # fmt: skip
REVIEW_METRICS = ("ubrmse", "r", "bias", "n")
#: Model-version tag naming the day its ``insitu.*`` tags were computed for.
TAG_COMPUTED_FOR = "insitu.computed_for"
EPOCH = date(1970, 1, 1)
#: Citation required by ISMN (Dorigo et al. 2021, HESS 25, 5749-5804) next to shown data.
ISMN_CITATION = "In situ: International Soil Moisture Network (ISMN; Dorigo et al. 2021)"


def _window_order(label: str) -> tuple[int, int]:
    return (0, int(label[:-1])) if label.endswith("d") else (1, ["DJF", "MAM", "JJA", "SON"].index(label))


def _fmt(value: Any, digits: int = 4) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:.{digits}f}"


#: Width of a printed interval "[low,high]" (4 decimals, signs included).
CI_WIDTH = 18


def _ci(row: dict[str, Any], column: str, digits: int = 4) -> str:
    low, high = row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high")
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return "-"
    return f"[{low:.{digits}f},{high:.{digits}f}]"


def _row_order(r: dict[str, Any]) -> tuple:
    variant_rank = {v: i for i, v in enumerate(VARIANT_ORDER)}
    return (_window_order(r["window_name"]), r["scope"] != "overall", r["scope_name"],
            variant_rank.get(r.get("variant", ""), 99), r["model_version"])  # fmt: skip


def format_table(rows: Sequence[dict[str, Any]], scopes: tuple[str, ...] = ("overall", "network")) -> str:
    """A fixed-width table of metrics per window, scope, network and variant.

    R is followed by ``*`` when it is significant (p < 0.05); each of R, bias, RMSE and ubRMSE
    by its 95 % interval in brackets; ``Neff`` is the independent days behind the row.
    """
    shown = [r for r in rows if r["scope"] in scopes]
    if not shown:
        return "no validation metrics (no matchups with enough pairs in any window)"
    head = f"{'window':<7}{'scope':<9}{'name':<16}{'variant':<12}{'model':<8}{'N':>6}{'Neff':>7}{'st':>4}"
    head += f"{'R':>8}  {'95% CI':<{CI_WIDTH}}"
    head += "".join(f"{m:>9} {'95% CI':<{CI_WIDTH}}" for m in ("bias", "RMSE", "ubRMSE")) + f"{'MAE':>9}"
    lines = [head, "-" * len(head)]
    for r in sorted(shown, key=_row_order):
        star = "*" if r["r_significant"] else " "
        line = f"{r['window_name']:<7}{r['scope']:<9}{r['scope_name'][:15]:<16}{r['variant']:<12}"
        line += f"{r['model_version'][:7]:<8}{r['n']:>6}{_fmt(r.get('n_eff'), 0):>7}{r['n_stations']:>4}"
        line += f"{_fmt(r['r'], 3):>8}{star} {_ci(r, 'r', 3):<{CI_WIDTH}}"
        line += "".join(f"{_fmt(r[m]):>9} {_ci(r, m):<{CI_WIDTH}}" for m in ("bias", "rmse", "ubrmse"))
        lines.append(line + f"{_fmt(r['mae']):>9}")
    lines.append(
        "R* = significant (p < 0.05); [low,high] = 95 % interval (bootstrap over days; Fisher z for a "
        "station's R); N = pairs; Neff = independent days (N shrunk by the errors' day-to-day "
        "persistence; summed over stations); st = stations with enough pairs"
    )
    return "\n".join(lines)


def format_collocation(rows: Sequence[dict[str, Any]]) -> str:
    """A fixed-width table of triple-collocation error sds (m3/m3) with their 95 % intervals."""
    if not rows:
        return (
            "no triple collocation (fewer than 100 station-days with model output before mass "
            "correction, SMAP and station in every window)"
        )
    head = f"{'window':<7}{'scope':<9}{'name':<16}{'model':<8}{'N':>6}{'st':>4}"
    head += "".join(f"{name:>9} {'95% CI':<{CI_WIDTH}}" for name in ("product", "SMAP", "station"))
    lines = [head, "-" * len(head)]
    for r in sorted(rows, key=_row_order):
        line = f"{r['window_name']:<7}{r['scope']:<9}{r['scope_name'][:15]:<16}{r['model_version'][:7]:<8}"
        line += f"{r['n_triplets']:>6}{r['n_stations']:>4}"
        line += "".join(
            f"{_fmt(r[f'{s}_error']):>9} {_ci(r, f'{s}_error'):<{CI_WIDTH}}" for s in COLLOCATION_SYSTEMS
        )
        lines.append(line)
    lines.append(
        "triple collocation of the model output before mass correction, SMAP and the stations: random "
        "error sd after removing each station's means; the stations' error includes the point-to-"
        "SMAP-cell mismatch; N = station-days with all three"
    )
    return "\n".join(lines)


def plot_station_series(matchups: pd.DataFrame, path: Path, max_stations: int = 4) -> Path | None:
    """Time series at the stations with most matchups: in situ, each variant, precipitation bars.

    Returns:
        The PNG written, or None when there are no matchups.
    """
    if matchups.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    busiest = matchups.groupby("station_key")["day"].nunique().sort_values(ascending=False)
    keys = list(busiest.index[:max_stations])
    fig, axes = plt.subplots(len(keys), 1, figsize=(10, 2.8 * len(keys)), squeeze=False)
    for ax, station in zip(axes[:, 0], keys, strict=True):
        _station_panel(ax, matchups[matchups["station_key"] == station].sort_values("day"), station)
    networks = ", ".join(sorted(matchups["network"].unique()))
    fig.text(0.01, 0.005, f"{ISMN_CITATION}; networks: {networks}", fontsize=7)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return _save(fig, path)


def _station_panel(ax: Any, frame: pd.DataFrame, station: str) -> None:
    insitu = frame.drop_duplicates("day")
    precip = insitu["precip"].astype(float)
    if precip.notna().any():
        # Bars hang from the top (inverted axis) and use a third of the height, clear of the lines.
        rain = ax.twinx()
        rain.bar(pd.to_datetime(insitu["day"]), precip.fillna(0.0), color="tab:blue", alpha=0.3, width=0.8)
        rain.set_ylim(max(float(precip.max()), 1.0) * 3.0, 0.0)
        rain.set_ylabel("precip (mm/day)", fontsize=8)
    ax.plot(pd.to_datetime(insitu["day"]), insitu["insitu"], "k.-", label="in situ", lw=1.2)
    for variant in VARIANT_ORDER:
        part = frame[frame["variant"] == variant]
        if not part.empty:
            ax.plot(
                pd.to_datetime(part["day"]), part["product"].astype(float), ".-", lw=0.8, ms=3, label=variant
            )
    ax.set_title(station, fontsize=9)
    ax.set_ylabel("soil moisture (m3/m3)", fontsize=8)
    ax.legend(fontsize=7, ncol=5, loc="upper left")


def plot_metric_boxes(rows: Sequence[dict[str, Any]], path: Path, window: str) -> Path | None:
    """Box plots of per-station R, bias and ubRMSE by variant for one window.

    Returns:
        The PNG written, or None when no station qualified in ``window``.
    """
    per_station = pd.DataFrame([r for r in rows if r["scope"] == "station" and r["window_name"] == window])
    if per_station.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = [v for v in VARIANT_ORDER if v in set(per_station["variant"])]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for ax, metric in zip(axes, ("r", "bias", "ubrmse"), strict=True):
        data = [per_station.loc[per_station["variant"] == v, metric].dropna().astype(float) for v in variants]
        ax.boxplot(data, tick_labels=variants)
        ax.set_title(f"{metric} per station ({window})", fontsize=9)
        # eight variant names side by side in a third of the figure overlap unless slanted
        ax.tick_params(labelsize=8)
        ax.tick_params(axis="x", labelrotation=40)
    fig.text(0.01, 0.01, ISMN_CITATION, fontsize=7)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    fig.savefig(partial, dpi=100, format="png")
    plt.close(fig)
    partial.replace(path)  # atomic: readers never see a half-written PNG
    return path


def summary_metrics(rows: Sequence[dict[str, Any]], model_version: str) -> dict[str, float]:
    """Overall metrics of one model version as flat MLflow names ``insitu.<window>.<variant>.<m>``."""
    out: dict[str, float] = {}
    for r in rows:
        if r["scope"] != "overall" or r["model_version"] != model_version:
            continue
        for metric in SUMMARY_METRICS:
            if r.get(metric) is not None:
                out[f"insitu.{r['window_name']}.{r['variant']}.{metric}"] = float(r[metric])
    return out


def _metric_name_part(name: str) -> str:
    """A network name as MLflow accepts it in a metric name (letters, digits, ``_-. /``)."""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", name)


def collocation_metrics(rows: Sequence[dict[str, Any]], model_version: str) -> dict[str, float]:
    """TC rows of one model version as MLflow names ``tc.<window>.<network or all>.<name>``.

    Names: ``product_error``, ``smap_error``, ``insitu_error`` (with ``_ci_low``/``_ci_high``)
    and ``n_triplets``.
    """
    out: dict[str, float] = {}
    for r in rows:
        if r["model_version"] != model_version:
            continue
        prefix = f"tc.{r['window_name']}.{_metric_name_part(r['scope_name'])}"
        out[f"{prefix}.n_triplets"] = float(r["n_triplets"])
        for system in COLLOCATION_SYSTEMS:
            for column in (f"{system}_error", f"{system}_error_ci_low", f"{system}_error_ci_high"):
                if r.get(column) is not None:
                    out[f"{prefix}.{column}"] = float(r[column])
    return out


def log_summary(
    tracking_uri: str,
    model_name: str,
    model_version: str,
    rows: Sequence[dict[str, Any]],
    computed_for: date,
    artifacts: Sequence[Path] = (),
    artifact_location: str | None = None,
    collocation: Sequence[dict[str, Any]] = (),
) -> str:
    """Log the overall skill of a model version to MLflow (``smprod validate``); returns the run id.

    A run in the ``smprod-validation`` experiment holds every overall metric, the
    triple-collocation errors of ``collocation`` (:func:`collocation_metrics`) and the plots;
    the version's review metrics and tags are logged by :func:`log_review` (as the daily flow
    does), and the version is tagged with the validation run's id.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    tags = {
        "model_name": model_name,
        "model_version": model_version,
        "computed_for": computed_for.isoformat(),
    }
    run = client.create_run(
        _experiment_id(client, artifact_location),
        tags=tags,
        run_name=f"validation-{computed_for:%Y%m%d}-v{model_version}",
    )
    values = summary_metrics(rows, model_version) | collocation_metrics(collocation, model_version)
    _log_run(client, run.info.run_id, values, computed_for, artifacts)
    if log_review(client, model_name, model_version, rows, computed_for) is not None:
        client.set_model_version_tag(model_name, model_version, "insitu.validation_run_id", run.info.run_id)
    return run.info.run_id


def review_metrics(rows: Sequence[dict[str, Any]], model_version: str) -> dict[str, float]:
    """The overall rolling-window metrics of one version as review names
    ``insitu_<metric>_<window>`` for the product and ``..._<variant>`` for the baselines
    (:data:`REVIEW_VARIANTS`, :data:`REVIEW_METRICS`), e.g. ``insitu_ubrmse_30d``,
    ``insitu_ubrmse_30d_smap``. Seasonal windows are left out (they are not rolling)."""
    out: dict[str, float] = {}
    for r in rows:
        window, variant = str(r["window_name"]), str(r["variant"])
        if r["scope"] != "overall" or r["model_version"] != model_version or not window.endswith("d"):
            continue
        if variant not in REVIEW_VARIANTS:
            continue
        for metric in REVIEW_METRICS:
            if r.get(metric) is not None:
                out[f"insitu_{metric}_{window}{REVIEW_VARIANTS[variant]}"] = float(r[metric])
    return out


def log_review(
    client: MlflowClient,
    model_name: str,
    model_version: str,
    rows: Sequence[dict[str, Any]],
    computed_for: date,
) -> str | None:
    """Log a version's in situ skill where a reviewer compares versions: onto the version's
    training run (a row of the training experiment's runs table) as :func:`review_metrics`, and
    as ``insitu.*`` tags of the registered version. Shared by ``smprod validate`` and the daily
    flow's validate stage.

    Each metric is one point per validated day: step = the day (days since 1970-01-01),
    timestamp = the day's midnight UTC, so the runs table shows the newest day's value and a
    rerun with the same values adds nothing (MLflow keeps one copy of an identical point). A
    day validated again with other values (reprocessed, or validated again after more matchups)
    gets a point at the same step 1 ms after the previous newest, which supersedes it. The tags
    follow the newest day validated (``insitu.computed_for``), not the last run.

    Returns:
        The training run's id, or None when the version is not registered (nothing logged).
    """
    from mlflow.exceptions import MlflowException

    from smprod.mlops.tracking import mark_custom_model_experiment

    try:
        version = client.get_model_version(model_name, model_version)
    except MlflowException:
        return None  # products made without a registered model
    if version.run_id:
        _log_points(client, version.run_id, review_metrics(rows, model_version), computed_for)
        mark_custom_model_experiment(client, client.get_run(version.run_id).info.experiment_id)
    shown = version.tags.get(TAG_COMPUTED_FOR)
    if shown is None or shown <= computed_for.isoformat():
        _tag_model_version(client, model_name, model_version, summary_metrics(rows, model_version))
        client.set_model_version_tag(model_name, model_version, TAG_COMPUTED_FOR, computed_for.isoformat())
    return version.run_id or None


def review_step(day: date) -> int:
    """The step of a day's review metrics: days since 1970-01-01."""
    return (day - EPOCH).days


def _log_points(client: MlflowClient, run_id: str, values: dict[str, float], computed_for: date) -> None:
    """One point per metric at the day's step, unless the newest point there has the value."""
    from mlflow.entities import Metric

    step, stamp = review_step(computed_for), _day_stamp(computed_for)
    points = []
    for key, value in sorted(values.items()):
        at_step = [m for m in client.get_metric_history(run_id, key) if m.step == step]
        newest = max(at_step, key=lambda m: m.timestamp, default=None)
        if newest is not None and newest.value == value:
            continue
        points.append(Metric(key, value, stamp if newest is None else newest.timestamp + 1, step))
    if points:
        client.log_batch(run_id, metrics=points)


def _day_stamp(day: date) -> int:
    """Milliseconds since the epoch at the day's midnight UTC (the day, not the clock)."""
    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp() * 1000)


def _experiment_id(client: MlflowClient, artifact_location: str | None) -> str:
    """The id of the :data:`EXPERIMENT` experiment, created on first use."""
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return str(experiment.experiment_id)
    from smprod.mlops.tracking import CUSTOM_MODEL_DEVELOPMENT, EXPERIMENT_KIND_TAG

    tags = {EXPERIMENT_KIND_TAG: CUSTOM_MODEL_DEVELOPMENT}
    return str(client.create_experiment(EXPERIMENT, artifact_location=artifact_location, tags=tags))


def _log_run(
    client: MlflowClient, run_id: str, values: dict[str, float], computed_for: date, artifacts: Sequence[Path]
) -> None:
    """Log the metrics and plots into the run and end it."""
    from mlflow.entities import Metric

    # Stamped with the validated day (not the wall clock), so reruns log the same points.
    stamp = _day_stamp(computed_for)
    client.log_batch(run_id, metrics=[Metric(k, v, stamp, 0) for k, v in sorted(values.items())])
    for artifact in artifacts:
        client.log_artifact(run_id, str(artifact))
    client.set_terminated(run_id)


def _tag_model_version(
    client: MlflowClient, model_name: str, model_version: str, values: dict[str, float]
) -> None:
    """Tag the registered model version with the rolling-window in situ ubRMSE and R of each
    variant (``insitu.<window>.<variant>.ubrmse``), so the registry's version page shows them."""
    for name, value in values.items():
        if (
            name.startswith("insitu.")
            and name.endswith((".ubrmse", ".r"))
            and name.split(".")[1].endswith("d")
        ):
            client.set_model_version_tag(model_name, model_version, name, f"{value:.4f}")
