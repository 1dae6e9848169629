"""Metrics per station, network and overall over windows, with the minimum-N rule."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from numpy.testing import assert_allclose

from smprod.validation.metrics import score
from smprod.validation.skill import compute_skill

END = date(2024, 3, 31)


def _frame(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    stations = {"A/s1/p/0.05-0.05": ("A", 100), "A/s2/p/0.05-0.05": ("A", 100), "B/s3/p/0.05-0.05": ("B", 5)}
    for key, (network, days) in stations.items():
        for i in range(days):
            day = END - timedelta(days=i)
            truth = 0.25 + 0.1 * np.sin(i / 9)
            for variant, noise in (("corrected", 0.02), ("smap", 0.05)):
                rows.append((key, network, day, variant, "4", truth, truth + 0.01 + rng.normal(0, noise)))
    columns = ["station_key", "network", "day", "variant", "model_version", "insitu", "product"]
    return pd.DataFrame(rows, columns=columns)


def _pick(rows, **match):
    match.setdefault("model_version", "4")  # per-version rows; pooled "all" rows are tested apart
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, len(found))
    return found[0]


def test_windows_stations_networks_and_overall():
    frame = _frame(np.random.default_rng(1))
    rows, excluded = compute_skill(frame, END, (30, 90), min_n=10)
    # s3 has 5 days only: excluded from every window and variant where it has pairs, never stored.
    assert {(e.station_key, e.n) for e in excluded} == {("B/s3/p/0.05-0.05", 5)}
    assert not [r for r in rows if "s3" in r["scope_name"] or r["scope_name"] == "B"]
    s1 = _pick(rows, scope="station", scope_name="A/s1/p/0.05-0.05", window_name="30d", variant="corrected")
    part = frame[(frame.station_key == "A/s1/p/0.05-0.05") & (frame.variant == "corrected")
                 & (frame.day > END - timedelta(days=30))]  # fmt: skip
    expected = score(part["product"], part["insitu"])
    assert s1["n"] == 30 and (s1["window_start"], s1["window_end"]) == (END - timedelta(days=29), END)
    assert_allclose([s1["r"], s1["bias"], s1["rmse"], s1["ubrmse"], s1["mae"]],
                    [expected.r, expected.bias, expected.rmse, expected.ubrmse, expected.mae])  # fmt: skip
    network = _pick(rows, scope="network", scope_name="A", window_name="90d", variant="smap")
    pooled = frame[
        (frame.network == "A") & (frame.variant == "smap") & (frame.day > END - timedelta(days=90))
    ]
    assert network["n"] == 180 and network["n_stations"] == 2
    assert_allclose(network["ubrmse"], score(pooled["product"], pooled["insitu"]).ubrmse)
    stations = [_pick(rows, scope="station", scope_name=k, window_name="90d", variant="smap")
                for k in ("A/s1/p/0.05-0.05", "A/s2/p/0.05-0.05")]  # fmt: skip
    assert_allclose(network["station_mean_ubrmse"], np.mean([s["ubrmse"] for s in stations]))
    overall = _pick(rows, scope="overall", scope_name="all", window_name="30d", variant="corrected")
    assert overall["n"] == 60 and overall["r_significant"]
    # The noisier SMAP stand-in must score worse than the product on the same pairs.
    smap = _pick(rows, scope="overall", scope_name="all", window_name="30d", variant="smap")
    assert smap["ubrmse"] > overall["ubrmse"]


def test_seasons_cover_the_longest_window_only():
    frame = _frame(np.random.default_rng(2))
    rows, _ = compute_skill(frame, END, (30, 90), min_n=10)
    djf = _pick(rows, scope="overall", window_name="DJF", variant="corrected")
    mam = _pick(rows, scope="overall", window_name="MAM", variant="corrected")
    # 90-day window ending 31 March: 2 Jan..29 Feb (59 days) in DJF, March (31 days) in MAM.
    assert (djf["n"], mam["n"]) == (2 * 59, 2 * 31)
    assert not [r for r in rows if r["window_name"] in ("JJA", "SON")]


def test_missing_product_values_reduce_n_and_min_n_is_per_window():
    frame = _frame(np.random.default_rng(3))
    s1 = (frame.station_key == "A/s1/p/0.05-0.05") & (frame.variant == "corrected")
    frame.loc[frame.index[s1][:25], "product"] = np.nan  # s1 corrected: 25 newest days without value
    rows, excluded = compute_skill(frame, END, (30,), min_n=10)
    assert ("A/s1/p/0.05-0.05", "corrected", 5) in {(e.station_key, e.variant, e.n) for e in excluded}
    overall = _pick(rows, scope="overall", window_name="30d", variant="corrected")
    assert overall["n"] == 30 and overall["n_stations"] == 1


def test_rows_carry_intervals_and_the_independent_days_behind_them():
    frame = _frame(np.random.default_rng(4))
    rows, _ = compute_skill(frame, END, (30, 90), min_n=10)
    for row in rows:
        for metric in ("bias", "rmse", "ubrmse"):
            assert row[f"{metric}_ci_low"] <= row[metric] <= row[f"{metric}_ci_high"], (metric, row)
        assert 0 < row["n_eff"] <= row["n"]
        if row["r_ci_low"] is not None:
            assert row["r_ci_low"] <= row["r"] <= row["r_ci_high"]
    # Two months of a slow sine are about one independent pair for R (both series persist):
    # a station's R gets no Fisher interval there rather than a falsely narrow one.
    djf = _pick(rows, scope="station", scope_name="A/s1/p/0.05-0.05", window_name="DJF", variant="corrected")
    assert djf["r"] > 0.9 and djf["r_ci_low"] is None and djf["r_ci_high"] is None
    network = _pick(rows, scope="network", scope_name="A", window_name="90d", variant="corrected")
    members = [_pick(rows, scope="station", scope_name=k, window_name="90d", variant="corrected")
               for k in ("A/s1/p/0.05-0.05", "A/s2/p/0.05-0.05")]  # fmt: skip
    assert_allclose(network["n_eff"], sum(m["n_eff"] for m in members))
    # The truth is a slow sine and the errors are white: the product's errors are not persistent.
    assert network["n_eff"] > 0.8 * network["n"]
    # Same pairs, same intervals: the pooled "all" row equals the only version's row.
    pooled = _pick(rows, scope="network", scope_name="A", window_name="90d", variant="corrected",
                   model_version="all")  # fmt: skip
    assert {k: v for k, v in pooled.items() if k != "model_version"} == {
        k: v for k, v in network.items() if k != "model_version"
    }
    assert compute_skill(frame, END, (30, 90), min_n=10)[0] == rows  # reruns store the same rows


def test_the_product_and_the_smap_baselines_are_compared_on_their_common_days_too():
    """SMAP has a gap every third day at the station; the product has a value there (from the
    model alone, poor). ``<variant>_common`` rows score all three on the days they share."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(60):
        day = END - timedelta(days=i)
        truth = 0.25 + 0.1 * np.sin(i / 9)
        gap = i % 3 == 0
        values = {
            "corrected": truth + rng.normal(0, 0.06 if gap else 0.02),
            "smap": np.nan if gap else truth + rng.normal(0, 0.03),
            "bilinear": truth + rng.normal(0, 0.04),  # bilinear has a value from the neighbours
        }
        rows += [("A/s1/p/0.05-0.05", "A", day, v, "4", truth, x) for v, x in values.items()]
    frame = pd.DataFrame(
        rows, columns=["station_key", "network", "day", "variant", "model_version", "insitu", "product"]
    )
    out, _ = compute_skill(frame, END, (90,), min_n=10)

    def station(variant):
        return _pick(out, scope="station", scope_name="A/s1/p/0.05-0.05", window_name="90d", variant=variant)

    assert (station("corrected")["n"], station("smap")["n"], station("bilinear")["n"]) == (60, 40, 60)
    shared = frame[(frame.day.map(lambda d: (END - d).days % 3 != 0))]
    for variant in ("corrected", "smap", "bilinear"):
        common = station(f"{variant}_common")
        part = shared[shared.variant == variant]
        assert common["n"] == 40
        assert_allclose(common["ubrmse"], score(part["product"], part["insitu"]).ubrmse)
    # on its own days the product looks worse than SMAP; on the common days it is better
    assert station("corrected")["ubrmse"] > station("corrected_common")["ubrmse"]
    assert station("corrected_common")["ubrmse"] < station("smap_common")["ubrmse"]


def test_no_common_days_without_all_three_variants():
    frame = _frame(np.random.default_rng(1))  # corrected and smap only
    rows, _ = compute_skill(frame, END, (30,), min_n=10)
    assert not [r for r in rows if r["variant"].endswith("_common")]
