"""Accuracy of the downscaling on a synthetic world, next to nearest-neighbour and bilinear SMAP.

Usage: python benchmarks/accuracy.py --suite [--worlds a,b] [--ceiling] [--small] [--work DIR]
       [--reanalysis [--reanalysis-variants]] [--sif-variants] [--long-stations]
       python benchmarks/accuracy.py [--days 40] [--test-days 4] [--kinds rf,xgb] [--work DIR] [--seed 7]
       [--terrain-bands 1] [--archive DIR --bbox W,S,E,N --start YYYY-MM-DD] [--coarse-product SPL3SMP]
       [--gap-correction-km 54]

``--suite`` judges the method on the suite of worlds (:mod:`benchmarks.suite`,
:data:`smprod.synthetic.spec.SUITE`): a table per world, then the tuning and held-out worlds
separately, ending with the line ``suite: worlds=N worst_ratio=X median_ratio=X worst_av_r=X
median_av_r=X median_subgrid_r=X`` over every world (ratio = product ubRMSE / bilinear ubRMSE).
``--small`` runs two small worlds (CI keeps the code from rotting; its figures mean nothing).
``--reanalysis`` adds the reanalysis mode (a model per block of scored days, trained on the
history length of days around the block, days after it included; production's default block,
``reanalysis_block_days``) next to the near-real-time product, on the worlds written with days
after the scored ones (``<work>/<world>-after<N>``), with a table row and summary lines of its
own; ``--reanalysis-variants`` also the variants ``docs/models.md`` compares (a model per day,
the day itself left out, the record ending with the scored days). ``--sif-variants`` scores
every world also with SIF among the predictors (``product-sif``: the ``use_sif`` setting, the
GOSIF composites written from the world's own seed and added to its days if they lack them),
prints the per-world ratios without and with SIF and the adoption verdict (tuning worlds only),
then the ``product-sif`` summaries before the product's. ``--long-stations`` scores the
near-real-time product at the stations over a longer series, on the worlds written with days
after the scored ones: the scored days and every day after them, retrained every
``retrain_max_age_days`` as production retrains (the pixel scores stay those of the scored
days); 12 stations over 6 days is a noisy figure.

Without ``--suite``: writes (or reuses) a synthetic archive in DIR (or reads another world's
archive, ``--archive``, with its truth under ``truth/`` as the archive contract says; give its
``--bbox``, ``--start`` and ``--days``), ingests it (ledger in an embedded PostgreSQL under
DIR), then prints per model kind: coarse test metrics of the temporal and spatial splits (R2, R,
RMSE, ubRMSE, bias) and 1 km metrics against the truth on held-out days (RMSE, ubRMSE, bias, R,
sub-grid R, added-value R) with and without mass correction, next to the two baselines and two
references that bound what any model can reach on this world:

* the noise ceiling: SMAP against the truth's coarse means. A perfect coarse model predicts the
  truth, so its R2 against noisy SMAP cannot exceed this;
* the oracle mass-conserving field: the truth itself put through the mass correction. Every
  corrected product inherits SMAP's error in each cell mean; the oracle has only that error.

The 1 km ubRMSE is also split by where SMAP is: in cells with a SMAP value the product's cell
means are SMAP's (mass correction), in cells without one they are the model's. Each figure is
given with its change against bilinear SMAP on the same pixels. ``corrected`` is the product as
production makes it (cells without SMAP shifted by their neighbours' correction,
``--gap-correction-km``); ``corrected, gaps kept`` leaves those cells at the model value.

The uncertainty is checked out of sample: sigma is calibrated on a random half of the temporal
test split and its one-sigma coverage reported on the other half. The 1 km model is made as
production makes it (:func:`smprod.mlops.lifecycle.fit_calibrated`: fitted on the window without its
last days, sigma calibrated on those), and its 1 km sigma is checked against the truth
(``1σ cov``: share of pixels whose error is within sigma; 0.683 is the aim).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.stack import EmbeddedStack
from smprod import db
from smprod.config import DEFAULT_GAP_CORRECTION_KM, load_settings
from smprod.grids.ease import region_from_bbox
from smprod.grids.regrid import bilinear_to_fine, block_mean, deviation_from_cell_mean, upsample_nearest
from smprod.inputs.dayfiles import InputStore
from smprod.inputs.ingest import ingest_day
from smprod.inputs.sources import ArchiveSource
from smprod.layout import WorkLayout
from smprod.mlops.lifecycle import fit_calibrated, split_holdout
from smprod.science.correction import correct_region, porosity_from_texture
from smprod.science.features import PREDICTORS
from smprod.science.models import Downscaler, make_model
from smprod.science.predict import predict_region
from smprod.science.training import (
    COARSE_FOOTPRINT_KM,
    SplitMetrics,
    spatial_split,
    split_metrics,
    temporal_split,
    training_table,
)
from smprod.synthetic.archive import write_archive

BBOX = (-100.0, 34.0, -96.0, 37.0)
START = date(2024, 5, 1)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson R; NaN when either side has no variance (e.g. nearest-neighbour sub-grid anomalies)."""
    if a.size < 3 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


METRICS = ("rmse", "ubrmse", "bias", "r", "subgrid_r", "added_value_r", "coverage")


def fine_metrics(
    field: np.ndarray, truth: np.ndarray, bilinear: np.ndarray, factor: int, sigma: np.ndarray | None = None
) -> dict[str, float]:
    """RMSE, ubRMSE, bias, R, sub-grid R, added-value R and one-sigma coverage against the truth.

    ``coverage`` is the share of pixels whose error is within ``sigma`` (NaN without one).
    """
    ok = np.isfinite(field) & np.isfinite(truth) & np.isfinite(bilinear)
    if not ok.any():  # e.g. nearest-neighbour SMAP in cells without SMAP
        return dict.fromkeys(METRICS, float("nan"))
    d = field[ok] - truth[ok]
    anomalies = [deviation_from_cell_mean(np.where(ok, a, np.nan), factor) for a in (field, truth)]
    sub = np.isfinite(anomalies[0]) & np.isfinite(anomalies[1])
    return {
        "rmse": float(np.sqrt(np.mean(d**2))),
        "ubrmse": float(np.sqrt(np.mean((d - d.mean()) ** 2))),
        "bias": float(d.mean()),
        "r": _corr(field[ok], truth[ok]),
        "subgrid_r": _corr(anomalies[0][sub], anomalies[1][sub]),
        # 0 by definition for any resampling of SMAP (no deviation from bilinear)
        "added_value_r": _corr(field[ok] - bilinear[ok], truth[ok] - bilinear[ok])
        if not np.allclose(field[ok], bilinear[ok])
        else 0.0,
        "coverage": float(np.mean(np.abs(d) <= sigma[ok])) if sigma is not None else float("nan"),
    }


WHERE = ("all", "SMAP cells", "no-SMAP cells")


def where_smap(smap: np.ndarray, factor: int) -> dict[str, np.ndarray]:
    """1 km masks of ``WHERE``: every pixel, pixels in cells with SMAP, pixels in cells without."""
    has_smap = upsample_nearest(np.isfinite(smap).astype(np.float64), factor) > 0.5
    return dict(zip(WHERE, (np.ones_like(has_smap), has_smap, ~has_smap), strict=True))


def scores_by_where(
    field: np.ndarray, f: DayFields, factor: int, sigma: np.ndarray | None = None
) -> dict[str, dict[str, float]]:
    """:func:`fine_metrics` of ``field`` on each mask of :func:`where_smap` (NaN outside it)."""
    return {
        where: fine_metrics(np.where(mask, field, np.nan), f.truth, f.bilinear, factor, sigma)
        for where, mask in where_smap(f.smap, factor).items()
    }


def read_truth(archive: Path, day: date) -> np.ndarray:
    """The synthetic world's true 1 km soil moisture of ``day`` (written by ``smprod synth``)."""
    with rasterio.open(archive / "truth" / f"truth_{day:%Y%m%d}.tif") as ds:
        return ds.read(1)


def noise_ceiling(archive: Path, days: list[date], store: InputStore, factor: int) -> SplitMetrics:
    """SMAP against the truth's coarse means over ``days``: the best a coarse model can score."""
    truth, smap = [], []
    for day in days:
        observed = store.open(day, "coarse")["sm"].values.astype(np.float64)
        coarse_truth = block_mean(read_truth(archive, day), factor)
        ok = np.isfinite(observed) & np.isfinite(coarse_truth)
        truth.append(coarse_truth[ok])
        smap.append(observed[ok])
    return split_metrics(np.concatenate(truth), np.concatenate(smap))


def held_out_coverage(model: Downscaler, rows: pd.DataFrame, seed: int = 0) -> tuple[float, float]:
    """(coverage on the calibration half, coverage on the other half) of ``rows``."""
    calibrate = np.random.default_rng(seed).random(len(rows)) < 0.5
    fitted = model.calibrate(rows.loc[calibrate, list(PREDICTORS)], rows.loc[calibrate, "sm"].to_numpy())
    mean, sigma = model.predict_with_uncertainty(rows.loc[~calibrate, list(PREDICTORS)])
    inside = np.abs(rows.loc[~calibrate, "sm"].to_numpy() - mean) <= sigma
    return fitted, float(inside.mean())


@dataclass(frozen=True)
class DayFields:
    """What the 1 km scores of a held-out day need."""

    day: date
    truth: np.ndarray
    smap: np.ndarray
    porosity: np.ndarray
    bilinear: np.ndarray


def _day_fields(archive: Path, store: InputStore, day: date, factor: int) -> DayFields:
    smap = store.open(day, "coarse")["sm"].values
    fine = store.open(day, "fine")
    porosity = porosity_from_texture(fine["sand"].values, fine["clay"].values)
    return DayFields(day, read_truth(archive, day), smap, porosity, bilinear_to_fine(smap, factor))


def _coarse_report(table: pd.DataFrame, kind: str, terrain_bands: int) -> None:
    for label, split in (("temporal", temporal_split), ("spatial", spatial_split)):
        train, test = split(table)
        model = make_model(kind, PREDICTORS, terrain_bands=terrain_bands)
        model.fit(table.loc[train, list(PREDICTORS)], table.loc[train, "sm"])
        m = split_metrics(model.predict(table.loc[test]), table.loc[test, "sm"].to_numpy())
        figures = f"R2 {m.r2:.3f} R {m.r:.3f} RMSE {m.rmse:.4f} ubRMSE {m.ubrmse:.4f} bias {m.bias:+.4f}"
        print(f"{kind:5s} coarse {label:8s}: {figures}")
        if label == "temporal":
            fitted, held_out = held_out_coverage(model, table.loc[test])
            print(f"{kind:5s} 1-sigma coverage: {fitted:.3f} where calibrated, {held_out:.3f} held out")


def run_suite(args: argparse.Namespace) -> None:
    """``--suite``: every world's table, the tuning and held-out summaries, the ``suite:`` line."""
    from dataclasses import replace

    from benchmarks import suite
    from smprod.synthetic.spec import SUITE

    worlds = list(SUITE)
    if args.small:
        worlds = [
            replace(SUITE[0], name="small-36", bbox=(-100.0, 34.0, -98.5, 35.2), history=10, test=2),
            replace(
                SUITE[1], name="small-9", bbox=(-5.0, 38.5, -4.0, 39.3), history=10, test=2, tuning=False
            ),
        ]
    if args.worlds:
        wanted = args.worlds.split(",")
        worlds = [w for w in worlds if w.name in wanted]
    stack = EmbeddedStack(args.stack or args.work / "stack")
    stack.up_postgres()
    url = stack.database_url("smprod")
    methods = [suite.Method("product")]
    if args.reanalysis or args.reanalysis_variants:
        methods += reanalysis_methods(args.reanalysis_variants)
    if args.sif_variants:
        methods.append(suite.Method(SIF_METHOD, use_sif=True))
    results = {}
    for world in worlds:
        longer = args.reanalysis or args.reanalysis_variants or args.long_stations
        run = suite.prepare(
            world, args.work, url, suite.after_days(world) if longer else 0, sif=args.sif_variants
        )
        if args.prepare_only:
            continue
        station_days = run.days[world.history + world.test :] if args.long_stations else []
        results[world.name] = suite.score(run, methods, ceiling=args.ceiling, station_days=station_days)
        title = (
            f"{world.name} ({world.coarse_product}, {world.history} days of history, "
            f"{len(run.test_days)} scored"
            + (f", stations over {len(run.test_days) + len(station_days)} days" if station_days else "")
            + f"; {world.spec.describe()})"
        )
        print(suite.format_world(title, results[world.name]), flush=True)
    if args.prepare_only:
        return
    if args.sif_variants:
        print("\nproduct / bilinear ubRMSE without and with SIF (same worlds, same seed):")
        print("\n".join(suite.variant_lines(worlds, results, "product", SIF_METHOD)))
    for method in methods[1:]:  # the line scripts read stays last
        _summaries(worlds, results, method.name, f"{method.name} ")
    _summaries(worlds, results, "product", "")


def _summaries(worlds: list, results: dict, method: str, prefix: str) -> None:
    """The tuning and held-out summaries of ``method``, then its ``suite:`` line."""
    from benchmarks import suite

    for label, tuning in (("tuning worlds", True), ("held-out worlds", False)):
        part = {w.name: results[w.name] for w in worlds if w.tuning == tuning}
        if part:
            print(f"{prefix}{label}: " + suite.summary_line(part, method).removeprefix("suite: "))
    print(prefix + suite.summary_line(results, method))


#: The suite method with SIF among the predictors (``--sif-variants``).
SIF_METHOD = "product-sif"


def reanalysis_methods(variants: bool) -> list:
    """The reanalysis method as production makes it (blocks of ``reanalysis_block_days``), and
    with ``variants`` the ones it was chosen against."""
    from benchmarks import suite
    from smprod.config import Settings

    block = Settings.model_fields["reanalysis_block_days"].default
    methods = [suite.Method("reanalysis", training="reanalysis", block_days=block)]
    if variants:
        methods += [
            suite.Method("reanalysis-day", training="reanalysis", block_days=1),
            suite.Method("reanalysis-day-out", training="reanalysis", block_days=1, include_block=False),
            suite.Method("reanalysis-end", training="reanalysis", block_days=block, at_record_end=True),
        ]
    return methods


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", action="store_true", help="judge on the suite of worlds")
    parser.add_argument("--worlds", default="", help="with --suite: only these worlds (comma-separated)")
    parser.add_argument("--ceiling", action="store_true", help="with --suite: add the learnable ceiling")
    parser.add_argument("--small", action="store_true", help="with --suite: two small worlds (CI)")
    parser.add_argument("--prepare-only", action="store_true", help="with --suite: write and ingest only")
    parser.add_argument(
        "--reanalysis", action="store_true", help="with --suite: the reanalysis mode next to the product"
    )
    parser.add_argument(
        "--reanalysis-variants", action="store_true", help="with --suite: and the reanalysis variants"
    )
    parser.add_argument(
        "--sif-variants",
        action="store_true",
        help="with --suite: each world also with SIF among the predictors (GOSIF added to its archive)",
    )
    parser.add_argument(
        "--long-stations",
        action="store_true",
        help="with --suite: the stations over the scored days and the days after them",
    )
    parser.add_argument("--stack", type=Path, help="embedded PostgreSQL directory (default WORK/stack)")
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--test-days", type=int, default=4)
    parser.add_argument("--kinds", default="rf,xgb")
    parser.add_argument("--work", type=Path, default=Path("benchmark-work/accuracy"))
    parser.add_argument("--terrain-bands", type=int, default=1, help="models per elevation band")
    parser.add_argument("--seed", type=int, default=7, help="synthetic world seed (new --work per seed)")
    parser.add_argument("--archive", type=Path, help="an existing archive with truth/ (default: synthesize)")
    parser.add_argument("--bbox", default=",".join(map(str, BBOX)), help="minlon,minlat,maxlon,maxlat")
    parser.add_argument("--start", type=date.fromisoformat, default=START, help="first day, YYYY-MM-DD")
    parser.add_argument("--coarse-product", default="SPL3SMP", choices=("SPL3SMP", "SPL3SMP_E"))
    parser.add_argument(
        "--gap-correction-km", type=float, default=DEFAULT_GAP_CORRECTION_KM, help="0: keep gap cells"
    )
    args = parser.parse_args()
    if args.suite:
        run_suite(args)
        return
    settings = load_settings(None, bbox=args.bbox, coarse_product=args.coarse_product, workdir=args.work)
    archive, layout = args.archive or args.work / "archive", WorkLayout(args.work / "work")
    if args.archive is None and not (archive / "smap").exists():
        write_archive(archive, args.start, args.days, settings.bbox, settings.coarse_km, seed=args.seed)
    stack = EmbeddedStack(args.work / "work")
    stack.up_postgres()
    engine = db.make_engine(stack.database_url("smprod"))
    region = region_from_bbox(settings.bbox, settings.coarse_km)
    store, source = InputStore(layout), ArchiveSource(archive)
    days = [args.start + timedelta(days=k) for k in range(args.days)]
    for day in days:
        if not store.has(day):
            ingest_day(day, region, settings.coarse_product, source, layout, engine)
    train_days, test_days = days[8 : -args.test_days], days[-args.test_days :]
    table = training_table(train_days, region, store, COARSE_FOOTPRINT_KM[settings.coarse_product])
    print(f"training samples: {len(table)} coarse cell-days; test days {test_days[0]}..{test_days[-1]}")
    ceiling = noise_ceiling(archive, train_days, store, region.factor)
    print(
        f"noise ceiling (SMAP vs truth cell means): R2 {ceiling.r2:.3f} R {ceiling.r:.3f} "
        f"ubRMSE {ceiling.ubrmse:.4f}"
    )
    held_out = [_day_fields(archive, store, day, region.factor) for day in test_days]

    def conserve(field: np.ndarray, smap: np.ndarray, porosity: np.ndarray, gap_km: float) -> np.ndarray:
        """The mass correction as production applies it (conservation scale included)."""
        return correct_region(field, smap, region, porosity, gap_km, settings.conservation_km).values

    rows = []
    for f in held_out:
        references = {
            "nearest": upsample_nearest(f.smap, region.factor),
            "bilinear": f.bilinear,
            "oracle mass-conserving": conserve(f.truth, f.smap, f.porosity, 0.0),
        }
        rows += [(name, scores_by_where(v, f, region.factor)) for name, v in references.items()]
    for kind in args.kinds.split(","):
        _coarse_report(table, kind, args.terrain_bands)
        model, coverage = fit_calibrated(kind, *split_holdout(table), terrain_bands=args.terrain_bands)
        print(f"{kind:5s} 1 km model (made as production does): 1-sigma coverage {coverage:.3f} on holdout")
        for f in held_out:
            prediction = predict_region(model, f.day, region, store)
            predicted = prediction.values
            fields = {f"{kind} uncorrected": predicted}
            for name, gap_km in (
                (f"{kind} corrected", args.gap_correction_km),
                (f"{kind} corrected, gaps kept", 0.0),
            ):
                fields[name] = conserve(predicted, f.smap, f.porosity, gap_km)
            for name, field in fields.items():
                rows.append((name, scores_by_where(field, f, region.factor, prediction.sigma)))
    print_fine_tables(rows, len(test_days))


def print_fine_tables(rows: list[tuple[str, dict[str, dict[str, float]]]], ndays: int) -> None:
    """The 1 km scores (means over the held-out days), then ubRMSE by where SMAP is."""
    means: dict[str, dict[str, dict[str, float]]] = {}
    for name in dict.fromkeys(n for n, _ in rows):
        days = [scores for n, scores in rows if n == name]
        means[name] = {
            where: {k: float(np.mean([d[where][k] for d in days])) for k in days[0][where]} for where in WHERE
        }
    print(f"\n1 km against the truth (mean over {ndays} held-out days)")
    header = f"{'RMSE':>7s} {'ubRMSE':>7s} {'bias':>8s} {'R':>6s} {'subR':>6s} {'AV-R':>6s} {'1σ cov':>6s}"
    print(f"{'variant':28s} {header}")
    for name, by_where in means.items():
        m = by_where["all"]
        print(
            f"{name:28s} {m['rmse']:7.4f} {m['ubrmse']:7.4f} {m['bias']:+8.4f} {m['r']:6.3f} "
            f"{m['subgrid_r']:6.3f} {m['added_value_r']:6.3f} {m['coverage']:6.3f}"
        )
    print("\n1 km ubRMSE by where SMAP is (change against bilinear SMAP on the same pixels)")
    print(f"{'variant':28s}" + "".join(f" {where:>22s}" for where in WHERE))
    for name, by_where in means.items():
        cells = []
        for where in WHERE:
            value, reference = by_where[where]["ubrmse"], means["bilinear"][where]["ubrmse"]
            cells.append(f"{value:.4f} ({100 * (value / reference - 1):+6.1f} %)")
        print(f"{name:28s}" + "".join(f" {c:>22s}" for c in cells))


if __name__ == "__main__":
    main()
