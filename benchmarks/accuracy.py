"""Accuracy of the downscaling on a synthetic world, next to nearest-neighbour and bilinear SMAP.

Usage: python benchmarks/accuracy.py [--days 40] [--test-days 4] [--kinds rf,xgb] [--work DIR]

Writes (or reuses) a synthetic archive in DIR, ingests it (ledger in an embedded PostgreSQL under
DIR), then prints per model kind: coarse test metrics of the temporal and spatial splits (R2, R,
RMSE, ubRMSE, bias) and 1 km metrics against the truth on held-out days (RMSE, ubRMSE, bias, R,
sub-grid R, added-value R) with and without mass correction, next to the two baselines.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.stack import EmbeddedStack
from smprod import db
from smprod.correction import conserve_mass, porosity_from_texture
from smprod.features import PREDICTORS, InputStore
from smprod.grid import region_from_bbox
from smprod.ingest import ingest_day
from smprod.layout import WorkLayout
from smprod.models import make_model
from smprod.predict import predict_region
from smprod.regrid import bilinear_to_fine, block_mean, upsample_nearest
from smprod.sources import ArchiveSource
from smprod.synthetic.archive import write_archive
from smprod.training import spatial_split, split_metrics, temporal_split, training_table

BBOX = (-100.0, 34.0, -96.0, 37.0)
START = date(2024, 5, 1)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson R; NaN when either side has no variance (e.g. nearest-neighbour sub-grid anomalies)."""
    if a.size < 3 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def fine_metrics(field: np.ndarray, truth: np.ndarray, bilinear: np.ndarray, factor: int) -> dict[str, float]:
    """RMSE, ubRMSE, bias, R, sub-grid R and added-value R of ``field`` against the truth."""
    ok = np.isfinite(field) & np.isfinite(truth) & np.isfinite(bilinear)
    d = field[ok] - truth[ok]
    anomalies = []
    for a in (field, truth):
        masked = np.where(ok, a, np.nan)
        anomalies.append(masked - upsample_nearest(block_mean(masked, factor, 0.999), factor))
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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--test-days", type=int, default=4)
    parser.add_argument("--kinds", default="rf,xgb")
    parser.add_argument("--work", type=Path, default=Path("benchmark-work/accuracy"))
    args = parser.parse_args()
    archive, layout = args.work / "archive", WorkLayout(args.work / "work")
    if not (archive / "smap").exists():
        write_archive(archive, START, args.days, BBOX, 36, seed=7)
    stack = EmbeddedStack(args.work / "work")
    stack.up_postgres()
    engine = db.make_engine(stack.database_url("smprod"))
    region, store, source = region_from_bbox(BBOX, 36), InputStore(layout), ArchiveSource(archive)
    days = [START + timedelta(days=k) for k in range(args.days)]
    for day in days:
        if not store.has(day):
            ingest_day(day, region, "SPL3SMP", source, layout, engine)
    train_days, test_days = days[8 : -args.test_days], days[-args.test_days :]
    table = training_table(train_days, region, store)
    print(f"training samples: {len(table)} coarse cell-days; test days {test_days[0]}..{test_days[-1]}")
    rows = []
    for kind in args.kinds.split(","):
        for label, split in (("temporal", temporal_split), ("spatial", spatial_split)):
            train, test = split(table)
            model = make_model(kind, PREDICTORS).fit(
                table.loc[train, list(PREDICTORS)], table.loc[train, "sm"]
            )
            m = split_metrics(model.predict(table.loc[test]), table.loc[test, "sm"].to_numpy())
            figures = f"R2 {m.r2:.3f} R {m.r:.3f} RMSE {m.rmse:.4f} ubRMSE {m.ubrmse:.4f} bias {m.bias:+.4f}"
            print(f"{kind:5s} coarse {label:8s}: {figures}")
        model = make_model(kind, PREDICTORS).fit(table[list(PREDICTORS)], table["sm"])
        for day in test_days:
            with rasterio.open(archive / "truth" / f"truth_{day:%Y%m%d}.tif") as ds:
                truth = ds.read(1)
            smap = store.open(day, "coarse")["sm"].values
            fine = store.open(day, "fine")
            bilinear = bilinear_to_fine(smap, region.factor)
            predicted = predict_region(model, day, region, store).values
            corrected = conserve_mass(
                predicted,
                smap,
                region.factor,
                porosity_from_texture(fine["sand"].values, fine["clay"].values),
            ).values
            variants = {
                "nearest": upsample_nearest(smap, region.factor),
                "bilinear": bilinear,
                f"{kind} uncorrected": predicted,
                f"{kind} corrected": corrected,
            }
            for name, field in variants.items():
                rows.append((name, fine_metrics(field, truth, bilinear, region.factor)))
    print(f"\n1 km against the truth (mean over {len(test_days)} held-out days)")
    print(f"{'variant':22s} {'RMSE':>7s} {'ubRMSE':>7s} {'bias':>8s} {'R':>6s} {'subR':>6s} {'AV-R':>6s}")
    for name in dict.fromkeys(n for n, _ in rows):
        values = [m for n, m in rows if n == name]
        mean = {k: float(np.mean([v[k] for v in values])) for k in values[0]}
        print(
            f"{name:22s} {mean['rmse']:7.4f} {mean['ubrmse']:7.4f} {mean['bias']:+8.4f} {mean['r']:6.3f} "
            f"{mean['subgrid_r']:6.3f} {mean['added_value_r']:6.3f}"
        )


if __name__ == "__main__":
    main()
