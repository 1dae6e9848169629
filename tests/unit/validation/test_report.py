"""Printed table, MLflow metric names and PNG plots of a validation."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from PIL import Image

from smprod.validation.report import (
    collocation_metrics,
    format_collocation,
    format_table,
    plot_metric_boxes,
    plot_station_series,
    summary_metrics,
)
from smprod.validation.skill import compute_skill

END = date(2024, 7, 31)


def _matchups() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    rows = []
    for s in range(4):
        network = "NETA" if s < 2 else "NETB"
        for i in range(40):
            day = END - timedelta(days=i)
            truth = 0.2 + 0.05 * np.cos(i / 5 + s)
            for variant, noise in (("corrected", 0.01), ("bilinear", 0.03), ("smap", 0.04)):
                value = truth + rng.normal(0, noise)
                rows.append((f"{network}/st{s}/p/0.00-0.05", network, day, variant, "2", truth, value, i % 7))
    columns = ["station_key", "network", "day", "variant", "model_version", "insitu", "product", "precip"]
    return pd.DataFrame(rows, columns=columns)


def test_table_lists_networks_and_variants_with_significance_marks():
    rows, _ = compute_skill(_matchups(), END, (30,), min_n=10)
    table = format_table(rows)
    lines = table.splitlines()
    assert lines[0].split()[:5] == ["window", "scope", "name", "variant", "model"]
    body = [line.split() for line in lines[2:-1]]
    assert {(b[0], b[1], b[2], b[3]) for b in body if b[0] == "30d"} >= {
        ("30d", "overall", "all", "corrected"),
        ("30d", "network", "NETA", "smap"),
        ("30d", "network", "NETB", "bilinear"),
    }  # fmt: skip
    overall = next(b for b in body if b[:4] == ["30d", "overall", "all", "corrected"])
    assert overall[5] == "120" and overall[7] == "4" and overall[8].endswith("*")
    assert 0 < float(overall[6]) <= 120  # Neff: at most the pairs
    row = next(
        r for r in rows if (r["scope"], r["variant"], r["model_version"]) == ("overall", "corrected", "2")
    )
    # R, bias, RMSE, ubRMSE each followed by its interval, as stored in the row
    assert overall[9] == f"[{row['r_ci_low']:.3f},{row['r_ci_high']:.3f}]"
    assert overall[11] == f"[{row['bias_ci_low']:.4f},{row['bias_ci_high']:.4f}]"
    assert overall[15] == f"[{row['ubrmse_ci_low']:.4f},{row['ubrmse_ci_high']:.4f}]"
    assert "no validation metrics" in format_table([])


def test_summary_metrics_are_the_overall_rows_of_one_version():
    rows, _ = compute_skill(_matchups(), END, (30,), min_n=10)
    values = summary_metrics(rows, "2")
    overall = next(
        r for r in rows if r["scope"] == "overall" and r["window_name"] == "30d" and r["variant"] == "smap"
    )
    assert values["insitu.30d.smap.ubrmse"] == overall["ubrmse"]
    assert values["insitu.30d.smap.ubrmse_ci_high"] == overall["ubrmse_ci_high"]
    assert values["insitu.30d.smap.n_eff"] == overall["n_eff"]
    assert values["insitu.30d.corrected.n"] == 120
    assert summary_metrics(rows, "9") == {}


def test_plots_are_written_as_png(tmp_path):
    matchups = _matchups()
    rows, _ = compute_skill(matchups, END, (30,), min_n=10)
    series = plot_station_series(matchups, tmp_path / "series.png", max_stations=2)
    boxes = plot_metric_boxes(rows, tmp_path / "boxes.png", "30d")
    for path in (series, boxes):
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] >= 600
    assert not list(tmp_path.glob(".*partial"))
    assert plot_station_series(matchups.iloc[:0], tmp_path / "none.png") is None
    assert plot_metric_boxes(rows, tmp_path / "none.png", "365d") is None


def _collocation_row(network: str, version: str = "2") -> dict:
    row = {"window_name": "90d", "scope": "network" if network != "all" else "overall",
           "scope_name": network, "model_version": version, "n_triplets": 240, "n_stations": 6}  # fmt: skip
    for i, system in enumerate(("product", "smap", "insitu")):
        row |= {f"{system}_error": 0.02 + i / 100, f"{system}_error_ci_low": 0.01 + i / 100,
                f"{system}_error_ci_high": 0.03 + i / 100}  # fmt: skip
    row["insitu_error_ci_low"] = None  # undefined bound: shown as "-", not logged
    return row


def test_collocation_table_and_mlflow_names():
    rows = [
        _collocation_row("all"),
        _collocation_row("SCAN (US)"),
        _collocation_row("all", "3") | {"n_triplets": 999},
    ]
    lines = format_collocation(rows).splitlines()
    assert lines[0].split()[:6] == ["window", "scope", "name", "model", "N", "st"]
    first = lines[2].split()
    assert first[:6] == ["90d", "overall", "all", "2", "240", "6"]
    assert first[6:] == ["0.0200", "[0.0100,0.0300]", "0.0300", "[0.0200,0.0400]", "0.0400", "-"]
    assert "no triple collocation" in format_collocation([])
    values = collocation_metrics(rows, "2")
    assert values["tc.90d.all.smap_error"] == 0.03 and values["tc.90d.all.n_triplets"] == 240
    assert values["tc.90d.SCAN _US_.insitu_error_ci_high"] == 0.05  # MLflow refuses "(" in names
    assert "tc.90d.all.insitu_error_ci_low" not in values
    assert collocation_metrics(rows, "9") == {}
