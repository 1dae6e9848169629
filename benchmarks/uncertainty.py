"""What the 1 km uncertainty can see: its coverage on the accuracy suite under other error models.

Issue 20 (item 4) asks that the product's one-sigma ``uncertainty`` cover 63-73 % of the 1 km
errors on every world of the suite. Production calibrates the forest's spread against SMAP at
the coarse scale (:meth:`smprod.science.models.Downscaler.calibrate`). This benchmark makes the
near-real-time product of each suite world as :mod:`benchmarks.suite` does and reports, per
world:

* the coverage of the production sigma, and what the product's error is made of: its part
  shared by a coarse cell (after the mass correction, SMAP's own error in the cell, static part
  included) and its sub-grid part;
* the correlation of sigma with the error's size (does sigma say *where* the product is worse?);
* the coverage of other error models ``sigma^2 = a * sigma_model^2 + floor^2 + (k * |anomaly|)^2``
  (anomaly: the model field's deviation from its coarse-cell mean), searched on the tuning worlds
  only and then applied to all (the held-out worlds stay out of the choice);
* the scale factor the world's stations would ask for on the last history days (product made
  from the same model, network-mean bias removed, a station error of ``--station-error`` taken
  out in quadrature) next to the one its 1 km truth asks for on the scored days.

Usage (the suite's worlds prepared by ``benchmarks/accuracy.py --suite --work /tmp/suite``)::

    PYTHONPATH=$PWD python benchmarks/uncertainty.py --work /tmp/suite
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from benchmarks import suite
from smprod.grids.regrid import block_mean, upsample_nearest
from smprod.science.models import ONE_SIGMA
from smprod.science.predict import predict_region
from smprod.synthetic.spec import SUITE

#: Error models searched: (a, floor, k) of sigma^2 = a sigma_model^2 + floor^2 + (k |anomaly|)^2.
GRID = list(
    itertools.product((0.0, 0.25, 0.5, 0.75, 1.0), np.arange(0.0, 0.0451, 0.005), (0.0, 0.5, 1.0, 2.0))
)
#: History days whose products are matched with the stations for the station-based scale.
STATION_DAYS = 12


@dataclass
class Pixels:
    """Every scored pixel of a world, pooled: error, production sigma, |model anomaly|, and the
    error's coarse-cell and sub-grid parts."""

    error: NDArray
    sigma: NDArray
    anomaly: NDArray
    cell_error: NDArray
    subgrid_error: NDArray

    def coverage(self, a: float = 1.0, floor: float = 0.0, k: float = 0.0) -> float:
        sigma = np.sqrt(a * self.sigma**2 + floor**2 + (k * self.anomaly) ** 2)
        return float(np.mean(np.abs(self.error) <= sigma))

    def needed_scale(self) -> float:
        """The factor on the production sigma that would cover ONE_SIGMA of the errors."""
        return float(np.quantile(np.abs(self.error), ONE_SIGMA) / np.median(self.sigma))


def _cell_mean(values: NDArray, factor: int) -> NDArray:
    return upsample_nearest(block_mean(values, factor, 0.5), factor)


def scored_pixels(run: suite.WorldRun, model) -> Pixels:  # type: ignore[no-untyped-def]
    """The near-real-time product of every scored day, against the truth."""
    method, factor = suite.Method("product"), run.region.factor
    parts: list[list[NDArray]] = [[], [], [], [], []]
    for day in run.test_days:
        prediction = predict_region(model, day, run.region, run.store)
        error = suite.product(run, method, prediction, day) - run.truth(day)
        ok = np.isfinite(error) & np.isfinite(prediction.sigma)
        error = np.where(ok, error, np.nan)
        field = np.where(ok, prediction.values, np.nan)
        cell_error = _cell_mean(error, factor)
        keep = ok & np.isfinite(cell_error)
        anomaly = np.abs(field - _cell_mean(field, factor))
        for part, values in zip(
            parts, (error, prediction.sigma, anomaly, cell_error, error - cell_error), strict=True
        ):
            part.append(values[keep])
    return Pixels(*(np.concatenate(p) for p in parts))


def station_scale(run: suite.WorldRun, model, station_error: float) -> float:  # type: ignore[no-untyped-def]
    """The factor on sigma the stations ask for on the last history days (see module doc)."""
    method, stations = suite.Method("product"), suite._stations(run)
    errors, sigmas = [], []
    for day in run.train_days[-STATION_DAYS:]:
        prediction = predict_region(model, day, run.region, run.store)
        values = suite.product(run, method, prediction, day)
        for row, col, means in stations:
            observed = means.get(day, np.nan)
            if np.isfinite(observed) and np.isfinite(values[row, col]):
                errors.append(values[row, col] - observed)
                sigmas.append(prediction.sigma[row, col])
    error = np.asarray(errors) - np.mean(errors)
    q = float(np.quantile(np.abs(error), ONE_SIGMA))
    return float(np.sqrt(max(q**2 - station_error**2, 0.0)) / np.median(sigmas))


def best_models(pixels: dict[str, Pixels], tuning: list[str], most: int = 3) -> list[tuple]:
    """The error models of GRID with the smallest worst |coverage - ONE_SIGMA| on ``tuning``."""
    ranked = []
    for a, floor, k in GRID:
        worst = max(abs(pixels[w].coverage(a, floor, k) - ONE_SIGMA) for w in tuning)
        ranked.append((worst, a, float(floor), k))
    return sorted(ranked)[:most]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, required=True, help="the suite's prepared worlds")
    parser.add_argument("--station-error", type=float, default=0.025, help="m3/m3, in quadrature")
    args = parser.parse_args()
    url = "postgresql+psycopg://unused@127.0.0.1:1/unused"  # the worlds are ingested already
    pixels: dict[str, Pixels] = {}
    for world in SUITE:
        run = suite.prepare(world, args.work, url)
        model = suite.train(run, suite.Method("product"))
        p = pixels[world.name] = scored_pixels(run, model)
        print(
            f"{world.name:17s} coverage {p.coverage():.3f}  error sd {np.std(p.error):.4f} "
            f"(cell {np.std(p.cell_error):.4f}, sub-grid {np.std(p.subgrid_error):.4f})  "
            f"median sigma {np.median(p.sigma):.4f}  corr(|error|, sigma) "
            f"{np.corrcoef(np.abs(p.error), p.sigma)[0, 1]:.2f}  scale asked: truth "
            f"{p.needed_scale():.2f}, stations {station_scale(run, model, args.station_error):.2f}",
            flush=True,
        )
    tuning = [w.name for w in SUITE if w.tuning]
    names = [w.name for w in SUITE]
    print("\nerror model (chosen on the tuning worlds)     " + " ".join(f"{n[:10]:>10s}" for n in names))
    for worst, a, floor, k in [(float("nan"), 1.0, 0.0, 0.0), *best_models(pixels, tuning)]:
        row = " ".join(f"{pixels[n].coverage(a, floor, k):10.3f}" for n in names)
        print(f"a={a:<4} floor={floor:.3f} k={k:<3} worst dev {worst:.3f}   {row}")


if __name__ == "__main__":
    main()
