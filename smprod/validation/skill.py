"""Skill per station, per network and overall, for every window and product variant.

Rules (Ma et al. 2025, applied per window and variant):

- a station enters a window only with at least ``min_n`` valid pairs (setting
  ``validation_min_n``); below that its row is not written and it is left out of the network
  and overall figures of that window;
- network and overall metrics are computed on the pooled pairs of the qualifying stations
  (so R has a p-value), and the mean of the per-station R and ubRMSE is stored beside them
  (``station_mean_r``, ``station_mean_ubrmse``), which is what station-based studies quote
  (Xu et al. 2024: "mean ubRMSE over 87 stations");
- R is marked not significant when p >= 0.05.

Metrics are grouped by model version: a window that spans a model change gives one row per
version, each over the days that version produced.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from smprod.validation.metrics import Scores, score
from smprod.validation.windows import SEASON_OF_MONTH, Window, windows_for

#: Columns :func:`compute_skill` needs in its matchup table.
MATCHUP_COLUMNS = ("station_key", "network", "day", "variant", "model_version", "insitu", "product")
OVERALL = "all"


@dataclass(frozen=True)
class Exclusion:
    """A station left out of a window because it has too few pairs."""

    station_key: str
    window: str
    variant: str
    model_version: str
    n: int


def _in_window(frame: pd.DataFrame, window: Window) -> pd.DataFrame:
    days = pd.to_datetime(frame["day"])
    mask = (days >= pd.Timestamp(window.start)) & (days <= pd.Timestamp(window.end))
    if window.season is not None:
        mask &= days.dt.month.map(SEASON_OF_MONTH) == window.season
    return frame[mask]


def _row(scope: str, name: str, window: Window, group: tuple[str, str], scores: Scores) -> dict[str, Any]:
    def clean(value: float) -> float | None:
        return value if math.isfinite(value) else None

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
        "r": clean(scores.r),
        "r_pvalue": clean(scores.r_pvalue),
        "r_significant": scores.r_significant,
        "bias": clean(scores.bias),
        "rmse": clean(scores.rmse),
        "ubrmse": clean(scores.ubrmse),
        "mae": clean(scores.mae),
        "station_mean_r": None,
        "station_mean_ubrmse": None,
    }


def _pooled(scope: str, name: str, window: Window, group: tuple[str, str], pairs: pd.DataFrame,
            stations: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    row = _row(scope, name, window, group, score(pairs["product"], pairs["insitu"]))
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
        scores = score(pairs["product"], pairs["insitu"])
        if scores.n < min_n:
            yield Exclusion(str(key), window.label, group[1], group[0], scores.n)
            continue
        kept[str(key)] = _row("station", str(key), window, group, scores)
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
    """
    missing = set(MATCHUP_COLUMNS) - set(matchups.columns)
    if missing:
        raise ValueError(f"matchup table lacks columns {sorted(missing)}")
    frame = matchups.astype({"insitu": float, "product": float})
    rows: list[dict[str, Any]] = []
    excluded: list[Exclusion] = []
    for window in windows_for(computed_for, window_days):
        selected = _in_window(frame, window)
        groups = [
            ((str(v), str(var)), part) for (v, var), part in selected.groupby(["model_version", "variant"])
        ]
        # The product as published, whatever model made each day: weekly retrains would otherwise
        # split every window into per-version pieces too short for min_n.
        latest = _latest_version_per_day(selected)
        groups += [((ALL_VERSIONS, str(var)), part) for var, part in latest.groupby("variant")]
        for key, part in groups:
            for item in _window_rows(part, window, key, min_n):
                if isinstance(item, Exclusion):
                    excluded.append(item)
                else:
                    rows.append(item)
    return rows, excluded


#: ``model_version`` of rows pooled over every model version (each day's latest production).
ALL_VERSIONS = "all"


def _latest_version_per_day(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per station, day and variant: the one made by the highest model version."""
    order = pd.to_numeric(frame["model_version"], errors="coerce").fillna(-1)
    ranked = frame.assign(_order=order).sort_values("_order", ascending=False)
    return ranked.drop_duplicates(["station_key", "day", "variant"]).drop(columns="_order")
