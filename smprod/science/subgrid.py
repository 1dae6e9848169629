"""The sub-grid anomaly model: deviations from the local mean, learned between coarse cells.

The main model (:mod:`smprod.science.models`) learns absolute soil moisture from absolute
predictors between coarse cells; its 1 km field's deviations from each cell mean are the
product's sub-grid pattern after the mass correction. Between coarse cells that relation is
dominated by the large-scale state (the SMAP lags, rain, position), and only part of it carries
over to the deviations inside a cell (docs/models.md, "The accuracy suite").

This model learns the deviations directly, as multi-scale downscaling does: on every training
day, each coarse cell's deviation of SMAP from its neighbourhood mean (Gaussian, sigma
:data:`NEIGHBOURHOOD_KM`) against the same deviations of the land-surface predictors
(:data:`SUBGRID_PREDICTORS`). At 1 km it is applied to each pixel's deviation from its own
coarse cell's mean (scale invariance of the deviation relation); for LST day and night that
deviation is the pixel's persistent anomaly (its clear-sky deviation from the cell's mean averaged
over D-16..D, :func:`smprod.science.features.persistent_anomalies`), not the day's: the forest
is fitted on cell means, which carry almost none of a single pixel's LST noise, and applied to
the day's pixel it turned that noise into pattern. Its anomaly is combined with
the main model's (:func:`blend`): rescaled to the main anomaly's amplitude over the day's region
(a forest trained on the smaller coarse deviations saturates on the larger 1 km ones), then
averaged with weight ``subgrid_blend``, and the average rescaled to the main anomaly's amplitude
again (two patterns that agree in part average smaller; ``keep_amplitude``). Cell means are
untouched, so the mass correction and the uncertainty are as before.

Chosen on the accuracy suite's six tuning worlds (docs/models.md): product / bilinear ubRMSE
lower on every one of them with the blend at 0.5.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from smprod.config import DEFAULT_SUBGRID_BLEND
from smprod.grids.regrid import deviation_from_cell_mean, gaussian_mean
from smprod.science.forest import N_JOBS, forest_mean

#: Predictors whose deviations the model learns: the land-surface and terrain fields that vary
#: inside a coarse cell (not the SMAP lags, calendar, position or land-cover class).
SUBGRID_PREDICTORS = (
    "lst_day", "lst_night", "ndvi", "evi", "albedo", "precip", "precip_3d",
    "elevation", "slope", "sand", "clay",
)  # fmt: skip
#: Gaussian sigma (km) of the neighbourhood a coarse cell's deviation is taken from. 24 and
#: 72 km measured within 0.006 of 36 km on plains-36 (docs/models.md); not tried elsewhere.
NEIGHBOURHOOD_KM = 36.0
#: Suffix of a training-table column holding the neighbourhood mean of a predictor (or of sm).
LOCAL_SUFFIX = "_local"
#: Below this share of the Gaussian weight on valid cells a neighbourhood mean is missing.
MIN_LOCAL_WEIGHT = 0.05
#: Trees of the sub-grid forest: 30 scored as 60 (and 60 as 200) on the accuracy suite (docs/models.md).
TREES = 30
MIN_SAMPLES_LEAF = 5


def add_local_means(table: pd.DataFrame, shape: tuple[int, int], cell_km: float) -> pd.DataFrame:
    """``table`` (one row per day and coarse ``cell``, raveled over ``shape``) with the
    neighbourhood mean of every sub-grid predictor and of ``sm`` among the table's own cells of
    that day (``<name>_local``)."""
    sigma = NEIGHBOURHOOD_KM / cell_km
    names = (*SUBGRID_PREDICTORS, "sm")
    local = {name: np.full(len(table), np.nan) for name in names}
    all_cells = table["cell"].to_numpy()
    for rows in table.groupby("day").indices.values():
        cells = all_cells[rows]
        for name in names:
            grid = np.full(shape[0] * shape[1], np.nan)
            grid[cells] = table[name].to_numpy()[rows]
            grid = grid.reshape(shape)
            mean, weight = gaussian_mean(grid, np.isfinite(grid), sigma, mode="constant")
            local[name][rows] = np.where(weight > MIN_LOCAL_WEIGHT, mean, np.nan).ravel()[cells]
    return table.assign(**{name + LOCAL_SUFFIX: values for name, values in local.items()})


def _deviations(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {name: table[name].to_numpy() - table[name + LOCAL_SUFFIX].to_numpy() for name in SUBGRID_PREDICTORS}
    )


@dataclass
class SubgridModel:
    """A forest of deviations from the local mean (module docstring)."""

    blend: float = DEFAULT_SUBGRID_BLEND
    seed: int = 0
    samples: int = 0
    forest: Any = field(default=None, repr=False)
    #: Whether the 1 km LST deviations are the persistent anomalies (:meth:`anomaly`), and
    #: whether the blend keeps the main anomaly's amplitude (:func:`blend`); set by :meth:`fit`,
    #: False on models saved before they existed, which keep their old behaviour.
    persistent: bool = False
    keep_amplitude: bool = False

    def fit(self, table: pd.DataFrame) -> SubgridModel:
        """Fit on a training table carrying :func:`add_local_means` columns."""
        from sklearn.ensemble import RandomForestRegressor

        X = _deviations(table)  # noqa: N806
        y = table["sm"].to_numpy() - table["sm" + LOCAL_SUFFIX].to_numpy()
        ok = np.isfinite(X.to_numpy()).all(axis=1) & np.isfinite(y)
        self.samples = int(ok.sum())
        self.persistent = self.keep_amplitude = True
        self.forest = RandomForestRegressor(
            TREES, min_samples_leaf=MIN_SAMPLES_LEAF, max_features=0.5, n_jobs=N_JOBS, random_state=self.seed
        ).fit(X.loc[ok], y[ok])
        return self

    def anomaly(
        self,
        features: pd.DataFrame,
        shape: tuple[int, int],
        factor: int,
        persistent: Mapping[str, NDArray[np.float64]] | None = None,
    ) -> NDArray[np.float64]:
        """The 1 km anomaly (zero mean in every coarse cell) of a window of whole cells.

        ``features``: the 1 km predictors of the window, row-major over ``shape``; a pixel's
        deviation is from its coarse cell's mean over the valid pixels. ``persistent``: the
        window's persistent anomalies (:func:`smprod.science.features.persistent_anomalies`),
        which a model fitted with them (``self.persistent``) takes as its LST deviations in
        place of the day's: a forest fitted on nearly noise-free cell means, applied to a
        single pixel's day, maps that day's noise into the pattern (docs/models.md,
        "Persistent anomalies"). NaN where a deviation is missing.
        """
        use = persistent if self.persistent and persistent is not None else {}
        X = pd.DataFrame(  # noqa: N806
            {
                name: np.asarray(use[name], np.float64).ravel()
                if name in use
                else deviation_from_cell_mean(
                    features[name].to_numpy(np.float64).reshape(shape), factor
                ).ravel()
                for name in SUBGRID_PREDICTORS
            }
        )
        ok = np.isfinite(X.to_numpy()).all(axis=1)
        out = np.full(len(X), np.nan)
        if ok.any():
            out[ok] = forest_mean(self.forest, X.to_numpy(np.float32)[ok])
        return deviation_from_cell_mean(out.reshape(shape), factor)


def blend(
    values: NDArray, anomaly: NDArray[np.float64], factor: int, weight: float, keep_amplitude: bool = False
) -> NDArray[np.float64]:
    """The main model's field with its sub-grid anomaly averaged with the sub-grid model's.

    The sub-grid anomaly is rescaled to the main anomaly's standard deviation over the pixels
    where both exist; cell means are kept. Pixels without a sub-grid anomaly keep the main
    model's value. ``keep_amplitude``: the average is rescaled to the main anomaly's standard
    deviation too. Two estimates of the pattern that agree only in part (correlation r) average
    to sqrt((1 + r) / 2) of their amplitude: 0.85-0.92 of it on the accuracy suite, where every
    world's product gained from restoring it (docs/models.md, "The blend's amplitude").
    """
    values = np.asarray(values, np.float64)
    main = deviation_from_cell_mean(values, factor)
    both = np.isfinite(main) & np.isfinite(anomaly)
    spread = float(np.std(anomaly[both])) if both.any() else 0.0
    if spread == 0.0 or weight == 0.0:
        return values
    target = float(np.std(main[both]))
    rescaled = anomaly * (target / spread)
    if not keep_amplitude:  # as models fitted before keep_amplitude existed blend
        return np.where(both, values + weight * (rescaled - main), values)
    mixed = main + weight * (rescaled - main)
    mixed_spread = float(np.std(mixed[both]))
    if mixed_spread > 0.0:
        mixed = mixed * (target / mixed_spread)
    return np.where(both, values + (mixed - main), values)
