"""Skill per station, per network and overall, for every window and product variant.

Rules (Ma et al. 2025, applied per window and variant):

- a station enters a window only with at least ``min_n`` valid pairs (setting
  ``validation_min_n``); below that its row is not written and it is left out of the network
  and overall figures of that window;
- network and overall metrics are computed on the pooled pairs of the qualifying stations
  (so R has a p-value), and the mean of the per-station R and ubRMSE is stored beside them
  (``station_mean_r``, ``station_mean_ubrmse``), which is what station-based studies quote
  (Xu et al. 2024: "mean ubRMSE over 87 stations");
- R is marked not significant when p >= 0.05;
- every row carries 95 % intervals of R, bias, RMSE and ubRMSE and ``n_eff``, the independent
  days behind it (:mod:`smprod.validation.metrics`). The bootstrap is seeded from the row's
  scope, name and window: a rerun stores the same intervals, the same pairs give the same
  intervals whatever the model-version grouping, and the variants of one station draw the same
  blocks of days when they cover the same days (their intervals compare day for day).

Metrics are grouped by model version: a window that spans a model change gives one row per
version, each over the days that version produced.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from smprod.errors import MetricInputError
from smprod.validation.metrics import Intervals, Scores, pooled_intervals, score, station_intervals
from smprod.validation.resampling import figure_rng, one_blas_thread
from smprod.validation.windows import SEASON_OF_MONTH, Window, windows_for

#: Columns :func:`compute_skill` needs in its matchup table.
MATCHUP_COLUMNS = ("station_key", "network", "day", "variant", "model_version", "insitu", "product")
OVERALL = "all"
#: The variants a reviewer compares: the product and the two SMAP baselines. Each has its own
#: days (SMAP and bilinear SMAP none where the day's SMAP has a gap at the station, the product a
#: value from the model there), so each is scored a second time on the days all three share, as
#: ``<variant>_common`` (:func:`with_common_days`).
COMPARED_VARIANTS = ("corrected", "bilinear", "smap")
COMMON_SUFFIX = "_common"


@dataclass(frozen=True)
class Exclusion:
    """A station left out of a window because it has too few pairs."""

    station_key: str
    window: str
    variant: str
    model_version: str
    n: int


#: What :func:`compute_skill` collects: metric rows and stations left out.
RowOrExclusion = dict[str, Any] | Exclusion


def in_window(frame: pd.DataFrame, window: Window) -> pd.DataFrame:
    """The matchups whose day falls in ``window`` (and its season)."""
    days = pd.to_datetime(frame["day"])
    mask = (days >= pd.Timestamp(window.start)) & (days <= pd.Timestamp(window.end))
    if window.season is not None:
        mask &= days.dt.month.map(SEASON_OF_MONTH) == window.season
    return frame[mask]


def day_numbers(days: pd.Series) -> np.ndarray:
    """Days as integer day numbers (days since 1970-01-01), what the bootstrap blocks count."""
    return pd.to_datetime(days).to_numpy().astype("datetime64[D]").astype(np.int64)


def _clean(value: float) -> float | None:
    return value if math.isfinite(value) else None


def interval_columns(intervals: Intervals) -> dict[str, float | None]:
    """The ``*_ci_low`` / ``*_ci_high`` columns and ``n_eff`` of a metric row."""
    out: dict[str, float | None] = {"n_eff": _clean(intervals.n_eff)}
    for metric in ("r", "bias", "rmse", "ubrmse"):
        low, high = getattr(intervals, metric)
        out[f"{metric}_ci_low"], out[f"{metric}_ci_high"] = _clean(low), _clean(high)
    return out


def _row(
    scope: str, name: str, window: Window, group: tuple[str, str], scores: Scores, intervals: Intervals
) -> dict[str, Any]:
    model_version, variant = group
    return {
        "scope": scope,
        "scope_name": name,
        "window_name": window.label,
        "variant": variant,
        "model_version": model_version,
        "computed_for": window.end,
        "window_start": window.start,
        "window_end": window.end,
        "n": scores.n,
        "n_stations": 1,
        "r": _clean(scores.r),
        "r_pvalue": _clean(scores.r_pvalue),
        "r_significant": scores.r_significant,
        "bias": _clean(scores.bias),
        "rmse": _clean(scores.rmse),
        "ubrmse": _clean(scores.ubrmse),
        "mae": _clean(scores.mae),
        "station_mean_r": None,
        "station_mean_ubrmse": None,
        **interval_columns(intervals),
    }


def _station(name: str, window: Window, group: tuple[str, str], pairs: pd.DataFrame) -> dict[str, Any]:
    rng = figure_rng("station", name, window.label, window.end)
    intervals = station_intervals(pairs["day_number"], pairs["product"], pairs["insitu"], rng)
    return _row("station", name, window, group, score(pairs["product"], pairs["insitu"]), intervals)


def _pooled(scope: str, name: str, window: Window, group: tuple[str, str], pairs: pd.DataFrame,
            stations: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    n_eff = float(sum(s["n_eff"] or 0.0 for s in stations))
    rng = figure_rng(scope, name, window.label, window.end)
    intervals = pooled_intervals(pairs["day_number"], pairs["product"], pairs["insitu"], n_eff, rng)
    row = _row(scope, name, window, group, score(pairs["product"], pairs["insitu"]), intervals)
    r_values = [s["r"] for s in stations if s["r"] is not None]
    ub_values = [s["ubrmse"] for s in stations if s["ubrmse"] is not None]
    row["n_stations"] = len(stations)
    row["station_mean_r"] = float(np.mean(r_values)) if r_values else None
    row["station_mean_ubrmse"] = float(np.mean(ub_values)) if ub_values else None
    return row


def _window_rows(
    frame: pd.DataFrame, window: Window, group: tuple[str, str], min_n: int
) -> Iterator[dict[str, Any] | Exclusion]:
    kept: dict[str, dict[str, Any]] = {}
    for key, pairs in frame.groupby("station_key", sort=True):
        n = int((np.isfinite(pairs["product"]) & np.isfinite(pairs["insitu"])).sum())
        if n < min_n:
            yield Exclusion(str(key), window.label, group[1], group[0], n)
            continue
        kept[str(key)] = _station(str(key), window, group, pairs)
        yield kept[str(key)]
    if not kept:
        return
    qualifying = frame[frame["station_key"].isin(list(kept))]
    for network, pairs in qualifying.groupby("network", sort=True):
        members = [kept[k] for k in pairs["station_key"].unique()]
        yield _pooled("network", str(network), window, group, pairs, members)
    yield _pooled("overall", OVERALL, window, group, qualifying, list(kept.values()))


def compute_skill(
    matchups: pd.DataFrame, computed_for: date, window_days: tuple[int, ...], min_n: int
) -> tuple[list[dict[str, Any]], list[Exclusion]]:
    """Metric rows (for ``validation_metrics``) and the exclusions, for windows ending on a day.

    Args:
        matchups: one row per station, day and variant with :data:`MATCHUP_COLUMNS`;
            ``product`` NaN/None where the variant had no value.
        computed_for: last day of every window.
        window_days: rolling window lengths (setting ``validation_windows``).
        min_n: fewest valid pairs for a station to count (setting ``validation_min_n``).

    Raises:
        MetricInputError: if ``matchups`` lacks one of :data:`MATCHUP_COLUMNS`.
    """
    frame = with_common_days(matchup_frame(matchups))
    items: list[RowOrExclusion] = []
    with one_blas_thread():
        for window in windows_for(computed_for, window_days):
            for versions, part in version_frames(in_window(frame, window)):
                for variant, pairs in part.groupby("variant"):
                    found = list(_window_rows(pairs, window, (versions[0], str(variant)), min_n))
                    items.extend(relabelled(item, version) for version in versions for item in found)
    rows = [item for item in items if not isinstance(item, Exclusion)]
    return rows, [item for item in items if isinstance(item, Exclusion)]


def matchup_frame(matchups: pd.DataFrame) -> pd.DataFrame:
    """The matchups with float values and a ``day_number`` column (:func:`day_numbers`).

    Raises:
        MetricInputError: if a column of :data:`MATCHUP_COLUMNS` is missing.
    """
    missing = set(MATCHUP_COLUMNS) - set(matchups.columns)
    if missing:
        raise MetricInputError(f"matchup table lacks columns {sorted(missing)}")
    frame = matchups.astype({"insitu": float, "product": float})
    return frame.assign(day_number=day_numbers(frame["day"]))


def with_common_days(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` and, as ``<variant>_common`` rows, the :data:`COMPARED_VARIANTS` on the
    station-days where every one of them has a value (a comparison of the product with SMAP on
    SMAP's days only would leave the product's hardest days in and SMAP's out)."""
    key = ["station_key", "day", "model_version"]
    compared = frame[frame["variant"].isin(COMPARED_VARIANTS)]
    valid = compared[np.isfinite(compared["product"].to_numpy(dtype=float))]
    counts = valid.groupby(key)["variant"].nunique()
    shared = counts[counts == len(COMPARED_VARIANTS)].index
    common = valid[pd.MultiIndex.from_frame(valid[key]).isin(shared)]
    if common.empty:
        return frame
    return pd.concat([frame, common.assign(variant=common["variant"] + COMMON_SUFFIX)], ignore_index=True)


#: ``model_version`` of rows pooled over every model version (each day's latest production).
ALL_VERSIONS = "all"


def version_frames(selected: pd.DataFrame) -> list[tuple[tuple[str, ...], pd.DataFrame]]:
    """A window's matchups per model version, then as published (:data:`ALL_VERSIONS`).

    The product as published, whatever model made each day: weekly retrains would otherwise split
    every window into per-version pieces too short for ``min_n``. Each frame comes with the
    model versions whose rows it gives: with one version in the window, its matchups are also
    the published ones, so one frame stands for both (computed once, stored twice).
    """
    per_version = [((str(version),), part) for version, part in selected.groupby("model_version")]
    if len(per_version) == 1:
        (version,), part = per_version[0]
        return [((version, ALL_VERSIONS), part)]
    return [*per_version, ((ALL_VERSIONS,), _latest_version_per_day(selected))]


def relabelled(item: RowOrExclusion, model_version: str) -> RowOrExclusion:
    """A metric row or exclusion with another ``model_version`` (see :func:`version_frames`)."""
    if isinstance(item, Exclusion):
        return replace(item, model_version=model_version)
    return {**item, "model_version": model_version}


def _latest_version_per_day(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per station, day and variant: the one made by the highest model version."""
    order = pd.to_numeric(frame["model_version"], errors="coerce").fillna(-1)
    ranked = frame.assign(_order=order).sort_values("_order", ascending=False)
    return ranked.drop_duplicates(["station_key", "day", "variant"]).drop(columns="_order")
