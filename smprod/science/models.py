"""One interface for every model kind: fit, predict, predict with uncertainty, importances, save/load.

Uncertainty is the spread of the ensemble's members (trees of the forest, seeds of the boosted
models, base learners of the stack), scaled by a factor calibrated on held-out data so that
about 68 % of held-out residuals fall within one sigma (:meth:`Downscaler.calibrate`).

**Terrain bands** (optional, ``terrain_bands > 1``): one model of the kind per elevation band,
as the stacking study trains separate models per terrain region (Xu et al. 2024). The band edges
are quantiles of the training samples' elevation, so every band gets the same share of them; a
row (a coarse cell in training, a 1 km pixel in production) is predicted by the model of the band
its own elevation falls in. One sigma scale is calibrated over all bands.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor, StackingRegressor
from sklearn.linear_model import RidgeCV

from smprod.errors import ModelError
from smprod.science.forest import N_JOBS, tree_predictions
from smprod.science.subgrid import SubgridModel

KINDS = ("rf", "xgb", "stack")
#: One-sigma coverage the calibration aims at (a Gaussian's 68.27 %).
ONE_SIGMA = 0.6827
XGB_MEMBERS = 5
#: Rows whose member spread is taken at once: a (members x 4096) block stays in the core's
#: cache, where numpy's std over a tile's whole (members x rows) array streams it through memory
#: three times. Half the time on a production tile, the same values to the bit.
SPREAD_BLOCK = 4096
#: The predictor that defines terrain bands, and the fewest training samples a band may have.
TERRAIN_PREDICTOR = "elevation"
MIN_BAND_SAMPLES = 100
#: A predictor with integer values and at most this many distinct ones in training also records
#: its classes, so a class never seen in training can be flagged (land cover).
MAX_CLASSES = 32


def _xgb(seed: int) -> Any:
    from xgboost import XGBRegressor

    return XGBRegressor(
        n_estimators=300,
        max_depth=6,
        learning_rate=0.06,
        subsample=0.8,
        colsample_bytree=0.8,
        n_jobs=N_JOBS,
        random_state=seed,
        tree_method="hist",
    )


#: Trees of the main forest. 80 scored as 150 on the accuracy suite (three seeds each, every world
#: within 0.005 of its mean; docs/models.md, "Forest sizes") at about half the prediction time.
RF_TREES = 80


def _rf(seed: int, n_estimators: int = RF_TREES) -> RandomForestRegressor:
    return RandomForestRegressor(
        n_estimators=n_estimators, min_samples_leaf=3, max_features=0.5, n_jobs=N_JOBS, random_state=seed
    )


@dataclass
class Downscaler:
    """A fitted coarse-scale regression of SMAP on the predictors, applied at 1 km."""

    kind: str
    predictors: tuple[str, ...]
    seed: int = 0
    sigma_scale: float = 1.0
    coverage: float | None = None
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: Values seen in training of the class-like predictors (see :data:`MAX_CLASSES`).
    classes: dict[str, list[float]] = field(default_factory=dict)
    estimators: list[Any] = field(default_factory=list)
    terrain_bands: int = 1
    #: Elevations (m) between consecutive bands (``terrain_bands - 1`` of them, ascending).
    band_edges: list[float] = field(default_factory=list)
    #: One fitted model per band (empty without bands) and its number of training samples.
    band_models: list[Downscaler] = field(default_factory=list)
    band_samples: list[int] = field(default_factory=list)
    #: The sub-grid anomaly model blended into the 1 km field (None: the main model alone, as
    #: every model saved before it existed; :mod:`smprod.science.subgrid`).
    subgrid: SubgridModel | None = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle; a model saved by an earlier smprod lacks the fields added since (a champion
        registered before an upgrade): they take their defaults, so it still loads and predicts."""
        defaults = {
            f.name: f.default_factory() if f.default_factory is not MISSING else f.default  # type: ignore[misc]
            for f in fields(self)
            if f.default is not MISSING or f.default_factory is not MISSING
        }
        self.__dict__.update({**defaults, **state})

    def fit(self, X: pd.DataFrame, y: NDArray, range_X: pd.DataFrame | None = None) -> Downscaler:  # noqa: N803
        """Fit on complete rows; remembers each predictor's training range and class-like values.

        ``range_X``: where the ranges and classes are taken from, when not ``X`` itself (the cell
        means behind footprint-smoothed training predictors,
        :func:`smprod.science.training.cell_mean_predictors`).
        """
        X = X.loc[:, list(self.predictors)]  # noqa: N806
        if len(X) < 20:
            raise ModelError(f"only {len(X)} training samples; need at least 20 (longer window?)")
        seen = X if range_X is None else range_X.loc[:, list(self.predictors)]
        self.ranges = {c: (float(seen[c].min()), float(seen[c].max())) for c in seen}
        self.classes = {c: sorted(map(float, v)) for c in seen if _class_like(v := seen[c].dropna().unique())}
        if self.terrain_bands > 1:
            return self._fit_bands(X, np.asarray(y, np.float64))
        if self.kind == "rf":
            self.estimators = [_rf(self.seed).fit(X, y)]
        elif self.kind == "xgb":
            self.estimators = [_xgb(self.seed + k).fit(X, y) for k in range(XGB_MEMBERS)]
        elif self.kind == "stack":
            stack = StackingRegressor(
                [
                    ("xgb", _xgb(self.seed)),
                    ("rf", _rf(self.seed, 100)),
                    (
                        "hgb",
                        HistGradientBoostingRegressor(
                            max_iter=300, learning_rate=0.06, random_state=self.seed
                        ),
                    ),
                ],
                final_estimator=RidgeCV(),
                cv=5,
                n_jobs=1,
            )
            self.estimators = [stack.fit(X, y)]
        else:
            raise ModelError(f"unknown model kind {self.kind!r}; use one of {KINDS}")
        return self

    def _fit_bands(self, X: pd.DataFrame, y: NDArray) -> Downscaler:  # noqa: N803
        if TERRAIN_PREDICTOR not in self.predictors:
            raise ModelError(f"terrain bands need the {TERRAIN_PREDICTOR!r} predictor")
        quantiles = np.linspace(0, 1, self.terrain_bands + 1)[1:-1]
        self.band_edges = [float(e) for e in np.quantile(X[TERRAIN_PREDICTOR], quantiles)]
        band = self.band_of(X)
        self.band_samples = [int(np.sum(band == b)) for b in range(self.terrain_bands)]
        if min(self.band_samples) < MIN_BAND_SAMPLES:
            raise ModelError(
                f"{self.terrain_bands} terrain bands leave {min(self.band_samples)} training samples in a "
                f"band (at least {MIN_BAND_SAMPLES}): use fewer bands or a longer window"
            )
        self.band_models = [
            Downscaler(self.kind, self.predictors, self.seed).fit(X[band == b], y[band == b])
            for b in range(self.terrain_bands)
        ]
        return self

    def band_of(self, X: pd.DataFrame) -> NDArray[np.intp]:  # noqa: N803
        """The terrain band (0 = lowest) of every row; all 0 without bands."""
        return np.searchsorted(self.band_edges, X[TERRAIN_PREDICTOR].to_numpy(), side="right")

    def _mean_and_spread(self, X: pd.DataFrame) -> tuple[NDArray[np.float64], NDArray[np.floating]]:  # noqa: N803
        """(point prediction, unscaled member spread), each band's rows by its own model."""
        if not self.band_models:
            members = self._members(X)
            return self._combine(members), member_spread(members)
        mean, spread = np.empty(len(X)), np.empty(len(X))
        band = self.band_of(X)
        for b, model in enumerate(self.band_models):
            rows = np.flatnonzero(band == b)
            if rows.size:
                mean[rows], spread[rows] = model._mean_and_spread(X.iloc[rows])
        return mean, spread

    def _members(self, X: pd.DataFrame) -> NDArray:  # noqa: N803
        """Predictions of every ensemble member, shape (members, rows)."""
        X = X.loc[:, list(self.predictors)]  # noqa: N806
        if not self.estimators:
            raise ModelError("model is not fitted")
        if self.kind == "rf":
            return tree_predictions(self.estimators[0], X.to_numpy(np.float32))
        if self.kind == "xgb":
            return np.stack([member.predict(X) for member in self.estimators])
        stack = self.estimators[0]
        return np.stack([est.predict(X) for est in stack.estimators_])

    def _combine(self, members: NDArray) -> NDArray[np.float64]:
        """The point prediction from the members' predictions (no second pass over the trees)."""
        if self.kind == "stack":
            # What StackingRegressor.predict does without passthrough: the meta-learner on the
            # base learners' predictions.
            return np.asarray(self.estimators[0].final_estimator_.predict(members.T), np.float64)
        return np.asarray(members.mean(axis=0), np.float64)

    def predict(self, X: pd.DataFrame) -> NDArray[np.float64]:  # noqa: N803
        """Point prediction (m3/m3)."""
        return self._mean_and_spread(X)[0]

    def predict_with_uncertainty(self, X: pd.DataFrame) -> tuple[NDArray, NDArray]:  # noqa: N803
        """(prediction, calibrated one-sigma uncertainty), both m3/m3, from one pass over the members."""
        mean, spread = self._mean_and_spread(X)
        return mean, spread * self.sigma_scale

    def calibrate(self, X: pd.DataFrame, y: NDArray) -> float:  # noqa: N803
        """Scale sigma so that ONE_SIGMA of held-out residuals fall within it; returns coverage."""
        self.sigma_scale = 1.0
        mean, sigma = self.predict_with_uncertainty(X)
        ratio = np.abs(np.asarray(y) - mean) / np.maximum(sigma, 1e-6)
        self.sigma_scale = float(np.quantile(ratio, ONE_SIGMA))
        _, sigma = self.predict_with_uncertainty(X)
        self.coverage = float(np.mean(np.abs(np.asarray(y) - mean) <= sigma))
        return self.coverage

    def out_of_range(
        self,
        X: pd.DataFrame,  # noqa: N803
        ranged: Mapping[str, str] | None = None,
        categorical: tuple[str, ...] = (),
    ) -> NDArray[np.bool_]:
        """Rows that extrapolate: a ``ranged`` predictor outside its training range on the side
        named (``"both"``, ``"lower"`` or ``"upper"``; default: every predictor, both sides), or a
        ``categorical`` one with a value never seen in training. A ``ranged`` name the model was
        not trained on (``sif`` for a model without it) is not judged."""
        flags = np.zeros(len(X), bool)
        for name, side in (dict.fromkeys(self.ranges, "both") if ranged is None else ranged).items():
            if name not in self.ranges:
                continue
            low, high = self.ranges[name]
            values = X[name].to_numpy()
            if side in ("both", "lower"):
                flags |= values < low
            if side in ("both", "upper"):
                flags |= values > high
        for name in categorical:
            if name in self.classes:  # empty for models saved before classes were recorded
                flags |= ~np.isin(X[name].to_numpy(), self.classes[name])
        return flags

    def feature_importances(self) -> dict[str, float]:
        """Impurity/gain importances normalised to sum 1 (stack: mean over its tree learners;
        terrain bands: the bands' importances weighted by their training samples)."""
        if self.band_models:
            weights = np.asarray(self.band_samples, np.float64) / sum(self.band_samples)
            per_band = [list(m.feature_importances().values()) for m in self.band_models]
            averaged = np.average(per_band, axis=0, weights=weights)
            return dict(zip(self.predictors, averaged.tolist(), strict=True))
        if self.kind == "rf":
            values = self.estimators[0].feature_importances_
        elif self.kind == "xgb":
            values = np.mean([m.feature_importances_ for m in self.estimators], axis=0)
        else:
            stack = self.estimators[0]
            values = np.mean(
                [stack.estimators_[0].feature_importances_, stack.estimators_[1].feature_importances_], axis=0
            )
        values = np.asarray(values, np.float64)
        return dict(zip(self.predictors, (values / values.sum()).tolist(), strict=True))

    def save(self, directory: Path) -> Path:
        """Write ``model.joblib`` and a readable ``manifest.json`` into ``directory``."""
        import sklearn
        import xgboost

        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, directory / "model.joblib", compress=3)
        manifest = {
            "kind": self.kind,
            "predictors": list(self.predictors),
            "sigma_scale": self.sigma_scale,
            "coverage": self.coverage,
            "ranges": self.ranges,
            "classes": self.classes,
            "terrain_bands": {"edges_m": self.band_edges, "samples": self.band_samples},
            "subgrid": None
            if self.subgrid is None
            else {
                "blend": self.subgrid.blend,
                "samples": self.subgrid.samples,
                "persistent": self.subgrid.persistent,
                "keep_amplitude": self.subgrid.keep_amplitude,
            },
            "versions": {"scikit-learn": sklearn.__version__, "xgboost": xgboost.__version__},
        }
        (directory / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
        return directory


def _class_like(distinct: NDArray) -> bool:
    """Few distinct integer values: a predictor whose unseen values are unseen classes."""
    integral = np.isfinite(distinct) & (distinct == np.round(distinct))
    return len(distinct) <= MAX_CLASSES and bool(integral.all())


def make_model(kind: str, predictors: tuple[str, ...], seed: int = 0, terrain_bands: int = 1) -> Downscaler:
    """An unfitted model of ``kind``; ``terrain_bands > 1``: one per elevation band (module docstring)."""
    if kind not in KINDS:
        raise ModelError(f"unknown model kind {kind!r}; use one of {KINDS}")
    if terrain_bands < 1:
        raise ModelError(f"terrain_bands must be at least 1, not {terrain_bands}")
    return Downscaler(kind=kind, predictors=tuple(predictors), seed=seed, terrain_bands=terrain_bands)


def load_model(directory: Path) -> Downscaler:
    """Load a model written by :meth:`Downscaler.save`."""
    path = Path(directory) / "model.joblib"
    if not path.exists():
        raise ModelError(f"no model at {path}")
    model = joblib.load(path)
    if not isinstance(model, Downscaler):
        raise ModelError(f"{path} does not hold a smprod Downscaler")
    return model


def member_spread(members: NDArray) -> NDArray[np.floating]:
    """The standard deviation of the members (shape (members, rows)) for every row, computed in
    blocks of :data:`SPREAD_BLOCK` rows; equal to ``members.std(axis=0)``, dtype included (the
    boosted members predict float32)."""
    dtype = members.dtype if np.issubdtype(members.dtype, np.floating) else np.float64
    spread = np.empty(members.shape[1], dtype)
    for start in range(0, members.shape[1], SPREAD_BLOCK):
        block = slice(start, start + SPREAD_BLOCK)
        spread[block] = members[:, block].std(axis=0)
    return spread
