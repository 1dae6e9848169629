"""Skill pooled over model versions: weekly retrains must not starve every window of pairs."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from smprod.validation.skill import ALL_VERSIONS, compute_skill


def _matchups(days: int = 14, switch: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for k in range(days):
        day = date(2024, 6, 1) + timedelta(days=k)
        insitu = 0.2 + 0.05 * np.sin(k / 3)
        version = "1" if k < switch else "2"
        rows.append(
            ("net/st/p/0.05-0.05", "net", day, "corrected", version, insitu, insitu + rng.normal(0, 0.01))
        )
    # day 13 reprocessed by a later version 3: only the latest production may count
    rows.append(("net/st/p/0.05-0.05", "net", rows[-1][2], "corrected", "3", rows[-1][5], rows[-1][5] + 0.5))
    return pd.DataFrame(
        rows, columns=["station_key", "network", "day", "variant", "model_version", "insitu", "product"]
    )


def test_pooled_rows_cover_the_window_across_versions():
    frame = _matchups()
    rows, excluded = compute_skill(frame, date(2024, 6, 14), (30,), min_n=10)
    pooled = [
        r
        for r in rows
        if r["model_version"] == ALL_VERSIONS and r["scope"] == "overall" and r["window_name"] == "30d"
    ]
    assert len(pooled) == 1 and pooled[0]["n"] == 14  # 14 days, the reprocessed day counted once
    assert not [r for r in rows if r["model_version"] in ("1", "2")]  # 7 days each: below min_n
    assert {e.model_version for e in excluded} >= {"1", "2"}
    assert pooled[0]["bias"] > 0.02  # the latest (version 3) value of the reprocessed day is used
