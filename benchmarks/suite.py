"""The accuracy suite: the downscaling judged on several worlds that differ as real regions do.

Used by ``benchmarks/accuracy.py --suite``. Every world of :data:`smprod.synthetic.spec.SUITE` is
written once below the work directory (granules in the real formats + truth), ingested, and then
for each method: the model is trained as production trains it (on the world's ``history`` days,
the last 5 held out for the sigma calibration) and the product made as production makes it
(:func:`smprod.science.predict.predict_region`, then :func:`smprod.science.correction.correct_region`
with the production settings ``gap_correction_km`` and ``conservation_km``) for each scored day after the
window. Scores per world, against the world's 1 km truth and next to bilinear SMAP on the same
pixels:

* ``ratio``: product ubRMSE / bilinear ubRMSE (pooled over the scored days' pixels);
* ``av_r``: added-value R, corr(product - bilinear, truth - bilinear) (0 for any resampling);
* ``subgrid_r``: corr of product and truth deviations from their coarse-cell means;
* ``residual``: the largest |cell mean - SMAP| over feasible cells with SMAP (m3/m3);
* ``coverage``: share of pixels whose error against the truth is within the uncertainty;
* against the world's stations: per-station ubRMSE of product, bilinear SMAP and SMAP
  (nearest cell), each over the station's days where every variant has a value, averaged over
  the stations with at least :data:`MIN_STATION_DAYS` such days;
* the same with every :data:`PIXEL_STATION_STEP`-th pixel a station that measures the truth
  (``px``), and ``P(miss)``: how often a random set of as many pixels as the world has stations
  puts the product's ubRMSE at or above bilinear SMAP's or SMAP's, the chance that the station
  target fails by the draw of the stations alone.

Two references bound what any product can reach on a world: the **oracle** (the truth itself put
through the mass correction at the product's conservation scale: every mass-conserving product
inherits SMAP's error in each conserved mean) and, with ``ceiling=True``, the **learnable
ceiling** (a forest fitted to the world's own 1 km truth from the same predictors, a diagnostic
no operational system can run).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import rasterio
from numpy.typing import NDArray

from smprod import db
from smprod.config import DEFAULT_GAP_CORRECTION_KM, Settings
from smprod.grids.ease import Region, region_from_bbox
from smprod.grids.regrid import bilinear_to_fine, block_mean, deviation_from_cell_mean, upsample_nearest
from smprod.inputs.dayfiles import SIF, InputStore
from smprod.inputs.ingest import add_sif, ingest_day
from smprod.inputs.readers.ismn import read_stm
from smprod.inputs.sources import ArchiveSource
from smprod.inputs.window import reanalysis_blocks, reanalysis_days
from smprod.layout import WorkLayout
from smprod.mlops.lifecycle import fit_calibrated, split_holdout
from smprod.science.correction import (
    conservation_blocks,
    conserve_mass_in_blocks,
    correct_region,
    porosity_from_texture,
)
from smprod.science.features import PREDICTORS, fine_features, predictor_names
from smprod.science.models import Downscaler
from smprod.science.predict import Prediction, predict_region
from smprod.science.training import COARSE_FOOTPRINT_KM, training_table
from smprod.synthetic.archive import write_archive
from smprod.synthetic.fluorescence import write_sif_archive
from smprod.synthetic.spec import SuiteWorld
from smprod.validation.stations import daily_means, find_station_files

#: Fewest common days (every variant and the station valid) for a station to count.
MIN_STATION_DAYS = 3
#: Pixels per training day sampled for the learnable ceiling's forest.
CEILING_PIXELS_PER_DAY = 4000
#: Every ``PIXEL_STATION_STEP``-th pixel along each axis is a virtual station (:class:`_PixelStations`).
PIXEL_STATION_STEP = 3
#: Random sets of virtual stations drawn for the chance that a world's station figure misses.
STATION_DRAWS = 4000


@dataclass(frozen=True)
class Method:
    """How the product is made from a trained model (the production defaults unless changed).

    ``correct`` turns the model's field into the product: (model field, SMAP, factor, porosity)
    -> corrected field (default:
    :func:`smprod.science.correction.correct_region`, as production calls it).
    """

    name: str
    kind: str = "rf"
    gap_correction_km: float = DEFAULT_GAP_CORRECTION_KM
    conservation_km: int = 36
    #: Smooth the training predictors over the coarse product's footprint (production: True).
    footprint: bool = True
    correct: Callable[..., NDArray[np.float64]] | None = None
    #: ``near-real-time``: trained on the history before the scored days (the daily run);
    #: ``reanalysis``: a model per block of scored days, trained on ``history`` days around it.
    training: str = "near-real-time"
    #: Reanalysis: days per block (0: the scored days are one block).
    block_days: int = 0
    #: Reanalysis: the block's own days (their SMAP) in its training window.
    include_block: bool = True
    #: Reanalysis: the record ends with the scored days (no day after them to train on).
    at_record_end: bool = False
    #: SIF among the predictors (the ``use_sif`` setting; the world must be prepared with ``sif``).
    use_sif: bool = False


@dataclass
class Scores:
    """One method's scores on one world."""

    ratio: float
    av_r: float
    subgrid_r: float
    residual: float
    coverage: float
    stations: dict[str, float] = field(default_factory=dict)
    #: The same station figures with every sampled pixel a station (:class:`_PixelStations`),
    #: and ``miss``: the share of random sets of as many pixels as the world has stations on
    #: which the product's ubRMSE is not below both bilinear SMAP's and SMAP's.
    pixel_stations: dict[str, float] = field(default_factory=dict)


@dataclass
class WorldRun:
    """A prepared world: its region, input store, days and truth reader."""

    world: SuiteWorld
    region: Region
    store: InputStore
    archive: Path
    train_days: list[date]
    test_days: list[date]
    #: Every day with a full set of lags (history, scored days and any days after them).
    days: list[date] = field(default_factory=list)

    def truth(self, day: date) -> NDArray[np.float64]:
        with rasterio.open(self.archive / "truth" / f"truth_{day:%Y%m%d}.tif") as ds:
            return ds.read(1).astype(np.float64)


def after_days(world: SuiteWorld) -> int:
    """Days a reanalysis world has after its scored days: enough for a window centred on any
    scored day (:func:`smprod.inputs.window.reanalysis_days`)."""
    return world.history // 2


def prepare(world: SuiteWorld, root: Path, database_url: str, after: int = 0, sif: bool = False) -> WorldRun:
    """Write (once) and ingest (once) ``world`` below ``root / world.name``; with ``after`` days
    after the scored days, below ``root / f"{world.name}-after{after}"`` (a longer simulation
    of the same world: its truth is the same day for day, the inputs of its last scored days
    differ a little, e.g. IMERG Final instead of Early).

    ``sif``: the days also get SIF (ingested with ``use_sif``). A world written or ingested
    before SIF existed gets its GOSIF composites from its own seed
    (:func:`smprod.synthetic.fluorescence.write_sif_archive`) and its days' SIF added
    (:func:`smprod.inputs.ingest.add_sif`); nothing else of it changes.
    """
    base = root / (f"{world.name}-after{after}" if after else world.name)
    archive, layout = base / "archive", WorkLayout(base / "work")
    region = region_from_bbox(world.bbox, world.coarse_km)
    ndays = world.days + after
    if not (archive / "truth").exists():
        write_archive(archive, world.start, ndays, world.bbox, world.coarse_km, world.seed, world.spec)
    if sif and not (archive / "sif").exists():
        write_sif_archive(archive, world.start, ndays, world.bbox, world.coarse_km, world.seed, world.spec)
    store, source = InputStore(layout), ArchiveSource(archive)
    engine = db.make_engine(database_url)
    days = [world.start + timedelta(days=k) for k in range(ndays)]
    for day in days:
        if not store.has(day):
            ingest_day(day, region, world.coarse_product, source, layout, engine, use_sif=sif)
        elif sif and SIF not in store.record(day, "fine").digests:
            add_sif(day, region, source, layout, engine)
    engine.dispose()
    history = days[8 : 8 + world.history]
    scored = days[8 + world.history : 8 + world.history + world.test]
    return WorldRun(world, region, store, archive, history, scored, days[8:])


#: A model's training: (window days, days never held out of fitting: the reanalysis block).
Training = tuple[tuple[date, ...], tuple[date, ...]]


def windows(run: WorldRun, method: Method) -> dict[date, Training]:
    """Scored day -> the training of the model that makes it.

    Near-real-time: the history before the scored days, for all of them. Reanalysis: per block
    of scored days, ``history`` days around it, as production's reanalysis backfill chooses them
    (:func:`smprod.inputs.window.reanalysis_days`), never past the world's last day (or, with
    ``at_record_end``, past the last scored day); the block's days are fitted on, never held out
    for the sigma calibration (:func:`smprod.mlops.lifecycle.split_holdout` ``keep``).
    """
    if method.training == "near-real-time":
        return {day: (tuple(run.train_days), ()) for day in run.test_days}
    latest = run.test_days[-1] if method.at_record_end else run.days[-1]
    out = {}
    for block in reanalysis_blocks(run.test_days, method.block_days or len(run.test_days)):
        window = reanalysis_days(block[0], block[-1], run.world.history, latest, not method.include_block)
        missing = sorted(set(window) - set(run.days))
        if missing:
            raise ValueError(f"{run.world.name}: the window of {block[0]} needs {missing[0]}..{missing[-1]}")
        out.update({day: (tuple(window), tuple(block)) for day in block})
    return out


def station_windows(run: WorldRun, station_days: Sequence[date], retrain_days: int) -> dict[date, Training]:
    """Day after the scored ones -> the near-real-time training that makes it under production's
    retrain policy: a model every ``retrain_days`` from the first scored day, each trained on the
    ``history`` days before its first day (the first is the scored days' model)."""
    first = run.test_days[0]
    out = {}
    for day in station_days:
        start = first + timedelta(days=(day - first).days // retrain_days * retrain_days)
        out[day] = (tuple([d for d in run.days if d < start][-run.world.history :]), ())
    return out


def train(run: WorldRun, method: Method, training: Training | None = None) -> Downscaler:
    """The model production would train (default: on the world's history window)."""
    days, keep = training or (tuple(run.train_days), ())
    footprint = COARSE_FOOTPRINT_KM[run.world.coarse_product] if method.footprint else 0.0
    predictors = predictor_names(method.use_sif)
    table = training_table(list(days), run.region, run.store, footprint, predictors)
    model, _ = fit_calibrated(method.kind, *split_holdout(table, keep), predictors=predictors)
    return model


def product(run: WorldRun, method: Method, prediction: Prediction, day: date) -> NDArray[np.float64]:
    """The mass-corrected product of ``day`` from the model's field, as ``method`` makes it."""
    smap, porosity = _smap(run, day), _porosity(run, day)
    if method.correct is not None:
        return method.correct(prediction.values, smap, run.region.factor, porosity)
    return correct_region(
        prediction.values, smap, run.region, porosity, method.gap_correction_km, method.conservation_km
    ).values


def _corr(a: NDArray, b: NDArray) -> float:
    if a.size < 3 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


@dataclass
class _Pooled:
    """Pixels of all scored days, pooled (so a day with few valid pixels weighs little)."""

    error: list[NDArray] = field(default_factory=list)
    baseline_error: list[NDArray] = field(default_factory=list)
    added: list[NDArray] = field(default_factory=list)
    needed: list[NDArray] = field(default_factory=list)
    sub_product: list[NDArray] = field(default_factory=list)
    sub_truth: list[NDArray] = field(default_factory=list)
    inside: list[NDArray] = field(default_factory=list)
    residual: float = 0.0

    def add(
        self,
        field_: NDArray,
        truth: NDArray,
        bilinear: NDArray,
        smap: NDArray,
        porosity: NDArray,
        scale: tuple[int, int, tuple[int, int]],
        sigma: NDArray | None,
    ) -> None:
        """Pool one day; ``scale`` = (factor, conservation block, offset) of the mass residual."""
        factor = scale[0]
        ok = np.isfinite(field_) & np.isfinite(truth) & np.isfinite(bilinear)
        self.error.append(field_[ok] - truth[ok])
        self.baseline_error.append(bilinear[ok] - truth[ok])
        self.added.append(field_[ok] - bilinear[ok])
        self.needed.append(truth[ok] - bilinear[ok])
        a, b = (deviation_from_cell_mean(np.where(ok, v, np.nan), factor) for v in (field_, truth))
        sub = np.isfinite(a) & np.isfinite(b)
        self.sub_product.append(a[sub])
        self.sub_truth.append(b[sub])
        if sigma is not None:
            self.inside.append(np.abs(field_[ok] - truth[ok]) <= sigma[ok])
        self.residual = max(self.residual, _conservation_residual(field_, smap, porosity, *scale))

    def scores(self) -> Scores:
        err, base = np.concatenate(self.error), np.concatenate(self.baseline_error)
        added = np.concatenate(self.added)
        return Scores(
            ratio=float(np.std(err) / np.std(base)),
            av_r=0.0 if np.allclose(added, 0) else _corr(added, np.concatenate(self.needed)),
            subgrid_r=_corr(np.concatenate(self.sub_product), np.concatenate(self.sub_truth)),
            residual=self.residual,
            coverage=float(np.mean(np.concatenate(self.inside))) if self.inside else float("nan"),
        )


def _padded(values: NDArray, block: int, offset: tuple[int, int], factor: int, fill: float) -> NDArray:
    """``values`` (coarse cells, or their ``factor`` pixels) inside whole blocks of the global grid."""
    rows, cols = values.shape[0] // factor, values.shape[1] // factor
    wide_rows = -(-(offset[0] + rows) // block) * block
    wide_cols = -(-(offset[1] + cols) // block) * block
    out = np.full((wide_rows * factor, wide_cols * factor), fill)
    out[
        offset[0] * factor : (offset[0] + rows) * factor, offset[1] * factor : (offset[1] + cols) * factor
    ] = values
    return out


def _conservation_residual(
    field_: NDArray, smap: NDArray, porosity: NDArray, factor: int, block: int, offset: tuple[int, int]
) -> float:
    """Largest |mean - target| over the feasible conservation cells (the block means of SMAP under
    the 50 % rule; :func:`smprod.science.correction.conserve_mass_in_blocks`), recomputed independently."""
    target = block_mean(_padded(smap, block, offset, 1, np.nan), block, 0.5)
    values = _padded(field_, block, offset, factor, np.nan)
    valid = np.isfinite(values)
    mean = block_mean(values, factor * block, 0.999)
    upper = block_mean(
        np.where(valid, _padded(porosity, block, offset, factor, np.nan), np.nan), factor * block, 0.999
    )
    has = np.isfinite(target) & np.isfinite(mean) & (target >= 0) & (target <= upper)
    return float(np.abs(mean[has] - target[has]).max(initial=0.0))


def _stations(run: WorldRun) -> list[tuple[int, int, dict[date, float]]]:
    """(row, col, {day: daily mean}) of the world's surface stations inside its region."""
    out = []
    for path in find_station_files(run.archive):
        series = read_stm(path)
        if series.station.depth_from > 0.05:
            continue
        rows, cols = run.region.fine.grid.rowcol_of_lonlat(series.station.lon, series.station.lat)
        row, col = int(rows) - run.region.fine.row0, int(cols) - run.region.fine.col0
        if 0 <= row < run.region.fine.nrows and 0 <= col < run.region.fine.ncols:
            means = daily_means(series)["sm"]
            out.append((row, col, {d: float(v) for d, v in means.items()}))
    return out


def _station_ubrmse(pairs: dict[str, list[tuple[list[float], list[float]]]]) -> dict[str, float]:
    """Mean over stations of the per-station ubRMSE of each variant, all on the same days.

    A station's days are those where every variant has a value (SMAP and bilinear SMAP have none
    where the day's SMAP has a gap; the product has, from the model alone): comparing each over
    its own days would score the product on its hardest days and SMAP without them.
    """
    variants = list(pairs)
    out: dict[str, list[float]] = {v: [] for v in variants}
    for i in range(len(pairs[variants[0]])):
        observed = np.asarray(pairs[variants[0]][i][1])
        errors = {v: np.asarray(pairs[v][i][0]) - observed for v in variants}
        common = np.logical_and.reduce([np.isfinite(e) for e in errors.values()])
        if common.sum() >= MIN_STATION_DAYS:
            for v in variants:
                out[v].append(float(np.std(errors[v][common])))
    return {v: float(np.mean(values)) if values else float("nan") for v, values in out.items()}


def score(
    run: WorldRun, methods: Sequence[Method], ceiling: bool = False, station_days: Sequence[date] = ()
) -> dict[str, Scores]:
    """Scores of bilinear SMAP, the oracle, optionally the learnable ceiling, and each method.

    ``station_days``: days after the scored days on which the products are scored at the
    stations only (a longer station series; near-real-time methods only, retrained as production
    retrains, every ``retrain_max_age_days``: :func:`station_windows`). The function is long
    because one loop over the days makes every field once and feeds both the pooled pixel
    scores and the station series.
    """
    if station_days and any(m.training != "near-real-time" for m in methods):
        raise ValueError("station_days: near-real-time methods only (a reanalysis window is per scored day)")
    factor = run.region.factor
    block, offset = conservation_blocks(run.region.coarse, methods[0].conservation_km if methods else None)
    scale = (factor, block, offset)
    by_name = {m.name: m for m in methods}
    retrain_days = int(Settings.model_fields["retrain_max_age_days"].default)
    plans = {m.name: {**station_windows(run, station_days, retrain_days), **windows(run, m)} for m in methods}
    trained: dict[str, tuple[Training, Downscaler]] = {}  # each method's current model

    def model_of(name: str, day: date) -> Downscaler:
        training = plans[name][day]
        if name not in trained or trained[name][0] != training:
            trained[name] = (training, train(run, by_name[name], training))
        return trained[name][1]

    names = [m.name for m in methods]
    if ceiling:
        names.append("ceiling")
        plans["ceiling"] = {day: ((), ()) for day in [*run.test_days, *station_days]}
        trained["ceiling"] = (((), ()), _ceiling_model(run))
    pooled = {name: _Pooled() for name in ("bilinear", "oracle", *names)}
    stations = _StationSeries(_stations(run), ("bilinear", "oracle", *names))
    pixel_stations = _PixelStations()
    for day in [*run.test_days, *station_days]:
        truth, smap, porosity = run.truth(day), _smap(run, day), _porosity(run, day)
        bilinear = bilinear_to_fine(smap, factor)
        oracle = conserve_mass_in_blocks(truth, smap, factor, block, offset, porosity, run.region.tile_cells)
        fields: dict[str, tuple[NDArray, NDArray | None]] = {
            "bilinear": (bilinear, None),
            "oracle": (oracle.values, None),
        }
        for name in names:
            prediction = predict_region(model_of(name, day), day, run.region, run.store)
            fields[name] = (product(run, by_name.get(name, Method(name)), prediction, day), prediction.sigma)
        if day in run.test_days:
            for name, (values, sigma) in fields.items():
                pooled[name].add(values, truth, bilinear, smap, porosity, scale, sigma)
        nearest = upsample_nearest(smap, factor)
        stations.add(day, nearest, {name: v for name, (v, _) in fields.items()})
        pixel_stations.add(truth, {"smap": nearest, **{name: v for name, (v, _) in fields.items()}})
    results = {name: p.scores() for name, p in pooled.items()}
    ubrmse = _station_ubrmse(stations.pairs)
    per_pixel = pixel_stations.ubrmse()
    for name, result in results.items():
        if name in ubrmse:
            result.stations = {
                "product": ubrmse[name],
                "bilinear": ubrmse["bilinear"],
                "smap": ubrmse["smap"],
            }
            result.pixel_stations = {
                **{
                    k: float(np.mean(per_pixel[v]))
                    for k, v in (("product", name), ("bilinear", "bilinear"), ("smap", "smap"))
                },
                "miss": station_miss_chance(per_pixel, name, len(stations.stations)),
            }
    return results


def _smap(run: WorldRun, day: date) -> NDArray[np.float64]:
    return run.store.open(day, "coarse")["sm"].values.astype(np.float64)


def _porosity(run: WorldRun, day: date) -> NDArray[np.float64]:
    fine = run.store.open(day, "fine")
    return porosity_from_texture(fine["sand"].values, fine["clay"].values)


@dataclass
class _StationSeries:
    """Each variant's values at the stations' pixels, day by day, beside the stations' own.

    The oracle is among the variants: the best any product conserved to the day's SMAP can do
    at the stations; ``smap`` (the nearest cell) always is.
    """

    stations: list[tuple[int, int, dict[date, float]]]
    variants: tuple[str, ...]
    pairs: dict[str, list[tuple[list[float], list[float]]]] = field(init=False)

    def __post_init__(self) -> None:
        self.pairs = {v: [([], []) for _ in self.stations] for v in ("smap", *self.variants)}

    def add(self, day: date, nearest: NDArray, fields: dict[str, NDArray]) -> None:
        for i, (row, col, means) in enumerate(self.stations):
            observed = means.get(day, float("nan"))
            for variant, (estimates, observations) in ((v, self.pairs[v][i]) for v in self.pairs):
                source = nearest if variant == "smap" else fields[variant]
                estimates.append(float(source[row, col]))
                observations.append(observed)


@dataclass
class _PixelStations:
    """Every :data:`PIXEL_STATION_STEP`-th pixel as a station that measures the truth exactly.

    A world's 12 stations are a small random sample of its pixels: over a few weeks the same
    product can score 0.04 above or below bilinear SMAP on them by the draw alone. The figures
    over every sampled pixel are what the stations estimate, without that sampling error
    (docs/models.md, "The stations: every pixel a station").
    """

    errors: dict[str, list[NDArray[np.float32]]] = field(default_factory=dict)

    def add(self, truth: NDArray, fields: dict[str, NDArray]) -> None:
        step = PIXEL_STATION_STEP
        observed = truth[::step, ::step].ravel()
        for variant, values in fields.items():
            self.errors.setdefault(variant, []).append(
                (values[::step, ::step].ravel() - observed).astype(np.float32)
            )

    def ubrmse(self) -> dict[str, NDArray[np.float64]]:
        """Per pixel, each variant's ubRMSE over the days where every variant and the truth have
        a value, for the pixels with at least :data:`MIN_STATION_DAYS` such days (as
        :func:`_station_ubrmse` scores a station)."""
        errors = {v: np.stack(e).astype(np.float64) for v, e in self.errors.items()}
        common = np.logical_and.reduce([np.isfinite(e) for e in errors.values()])
        keep = common.sum(axis=0) >= MIN_STATION_DAYS
        return {v: np.nanstd(np.where(common, e, np.nan)[:, keep], axis=0) for v, e in errors.items()}


def station_miss_chance(per_pixel: dict[str, NDArray], variant: str, stations: int) -> float:
    """The share of :data:`STATION_DRAWS` random sets of ``stations`` pixels on which ``variant``'s
    mean ubRMSE is not below both bilinear SMAP's and SMAP's (the issue's station target)."""
    pixels = per_pixel[variant].size
    if pixels == 0 or stations == 0:
        return float("nan")
    draws = np.random.default_rng(0).integers(0, pixels, (STATION_DRAWS, stations))
    mean = {v: per_pixel[v][draws].mean(axis=1) for v in (variant, "bilinear", "smap")}
    return float(np.mean((mean[variant] >= mean["bilinear"]) | (mean[variant] >= mean["smap"])))


def _ceiling_model(run: WorldRun) -> Downscaler:
    """A forest fitted to the world's 1 km truth (sampled pixels of the history days)."""
    import pandas as pd

    from smprod.science.models import make_model

    rng = np.random.default_rng(0)
    frames, targets = [], []
    for day in run.train_days:
        features, _ = fine_features(day, run.region, run.store)
        truth = run.truth(day).ravel()
        ok = np.flatnonzero(np.isfinite(features.to_numpy()).all(axis=1) & np.isfinite(truth))
        pick = rng.choice(ok, min(CEILING_PIXELS_PER_DAY, ok.size), replace=False)
        frames.append(features.iloc[pick])
        targets.append(truth[pick])
    table = pd.concat(frames, ignore_index=True)
    model = make_model("rf", PREDICTORS)
    model.fit(table, np.concatenate(targets))
    return model


def summary_line(results: dict[str, dict[str, Scores]], method: str) -> str:
    """The ``suite:`` line of ``method`` over the worlds in ``results`` (read by scripts)."""
    ratios = [r[method].ratio for r in results.values()]
    av = [r[method].av_r for r in results.values()]
    sub = [r[method].subgrid_r for r in results.values()]
    return (
        f"suite: worlds={len(results)} worst_ratio={max(ratios):.3f} "
        f"median_ratio={statistics.median(ratios):.3f} "
        f"worst_av_r={min(av):.3f} median_av_r={statistics.median(av):.3f} "
        f"median_subgrid_r={statistics.median(sub):.3f}"
    )


def format_world(name: str, scores: dict[str, Scores]) -> str:
    """One world's table: a row per variant."""
    header = f"  {'variant':22s} {'ratio':>6s} {'AV-R':>6s} {'subR':>6s} {'resid':>8s} {'1σ cov':>6s}"
    stations = (
        f" {'stn prod':>8s} {'stn bil':>8s} {'stn smap':>8s} {'px prod':>8s} {'px bil':>8s} {'px smap':>8s}"
    )
    lines = [f"\n{name}", header + stations + f" {'P(miss)':>7s}"]
    for variant, s in scores.items():
        at = "".join(
            f" {figures.get(k, np.nan):8.4f}"
            for figures in (s.stations, s.pixel_stations)
            for k in ("product", "bilinear", "smap")
        )
        lines.append(
            f"  {variant:22s} {s.ratio:6.3f} {s.av_r:6.3f} {s.subgrid_r:6.3f} {s.residual:8.1e} "
            f"{s.coverage:6.3f}{at} {s.pixel_stations.get('miss', np.nan):7.3f}"
        )
    return "\n".join(lines)


#: How much worse than without it a variant may make any world and still be adopted.
ADOPTION_TOLERANCE = 0.005


def variant_lines(
    worlds: Sequence[SuiteWorld], results: dict[str, dict[str, Scores]], base: str, variant: str
) -> list[str]:
    """Per world the ratio of ``base`` and of ``variant`` and their difference, then the verdict.

    The verdict is the adoption rule of a predictor or setting (docs/models.md): ``variant``
    lowers the median and the worst ratio of the *tuning* worlds, and makes no world (held-out
    ones included) worse by more than :data:`ADOPTION_TOLERANCE`. The held-out worlds are shown
    but never decide for the variant.
    """
    lines = [f"  {'world':14s} {'role':8s} {base:>10s} {variant:>12s} {'change':>8s}"]
    for world in worlds:
        a, b = results[world.name][base].ratio, results[world.name][variant].ratio
        role = "tuning" if world.tuning else "held-out"
        lines.append(f"  {world.name:14s} {role:8s} {a:10.3f} {b:12.3f} {b - a:+8.3f}")
    tuning = [w.name for w in worlds if w.tuning]
    if not tuning:
        return [*lines, f"{variant} vs {base}: no tuning world, no verdict"]
    before = [results[n][base].ratio for n in tuning]
    after = [results[n][variant].ratio for n in tuning]
    loss = max(results[w.name][variant].ratio - results[w.name][base].ratio for w in worlds)
    median_before, median_after = statistics.median(before), statistics.median(after)
    adopt = median_after < median_before and max(after) < max(before) and loss <= ADOPTION_TOLERANCE
    lines.append(
        f"{variant} vs {base}: tuning median {median_before:.3f} -> {median_after:.3f}, tuning worst "
        f"{max(before):.3f} -> {max(after):.3f}, largest loss on any world {loss:+.3f}: "
        + ("adopt" if adopt else "keep the default")
    )
    return lines
