"""The retrain policy's rules and their order."""

from __future__ import annotations

from datetime import date

import pytest

from smprod.mlops.retrain_policy import ChampionFacts, decide_retrain

DAY = date(2024, 6, 20)


def test_no_champion_retrains():
    decision = decide_retrain(DAY, None, max_age_days=7, insitu_ubrmse_threshold=0.06)
    assert decision.retrain and "no champion" in decision.reason


def test_old_champion_retrains_and_says_how_old():
    facts = ChampionFacts("3", trained_through=date(2024, 6, 10))
    decision = decide_retrain(DAY, facts, max_age_days=7, insitu_ubrmse_threshold=0.06)
    assert decision.retrain and "10 days old" in decision.reason


def test_age_limit_is_inclusive():
    facts = ChampionFacts("3", trained_through=date(2024, 6, 13))
    assert not decide_retrain(DAY, facts, max_age_days=7, insitu_ubrmse_threshold=0.06).retrain


def test_bad_insitu_skill_retrains_only_with_enough_matchups():
    bad = ChampionFacts("4", date(2024, 6, 19), insitu_ubrmse=0.08, insitu_n=40)
    few = ChampionFacts("4", date(2024, 6, 19), insitu_ubrmse=0.08, insitu_n=3)
    good = ChampionFacts("4", date(2024, 6, 19), insitu_ubrmse=0.04, insitu_n=40)
    assert decide_retrain(DAY, bad, 7, 0.06).retrain
    assert not decide_retrain(DAY, few, 7, 0.06).retrain
    decision = decide_retrain(DAY, good, 7, 0.06)
    assert not decision.retrain and "current" in decision.reason


def _metric(version: str, computed_for: date, ubrmse: float | None, n: int, **key: str) -> dict:
    row = {"scope": "overall", "scope_name": "all", "window_name": "30d", "variant": "corrected"}
    row.update(key)
    return {
        **row, "model_version": version, "computed_for": computed_for,
        "window_start": computed_for, "window_end": computed_for,
        "n": n, "n_stations": 3, "r_significant": False, "ubrmse": ubrmse,
    }  # fmt: skip


@pytest.mark.integration
def test_insitu_skill_reads_the_latest_overall_corrected_30d_row(database_url):
    from smprod import db
    from smprod.mlops.retrain_policy import insitu_skill
    from smprod.validation.tables import ValidationMetric, upsert

    engine = db.make_engine(database_url)
    assert insitu_skill(engine, "4") == (None, 0)  # never validated
    upsert(engine, ValidationMetric, [
        _metric("4", date(2024, 6, 18), 0.05, 30),
        _metric("4", date(2024, 6, 19), 0.07, 40),  # the latest: this one
        _metric("4", date(2024, 6, 20), 0.01, 90, scope="network", scope_name="NETA"),
        _metric("4", date(2024, 6, 20), 0.02, 90, window_name="90d"),
        _metric("4", date(2024, 6, 20), 0.03, 90, variant="smap"),
        _metric("3", date(2024, 6, 20), 0.04, 90),
        _metric("5", date(2024, 6, 20), None, 2),
    ])  # fmt: skip
    assert insitu_skill(engine, "4") == (0.07, 40)
    assert insitu_skill(engine, "4", "90d") == (0.02, 90)
    assert insitu_skill(engine, "4", variant="smap") == (0.03, 90)
    assert insitu_skill(engine, "5") == (None, 2)
    engine.dispose()


@pytest.mark.integration
def test_insitu_skill_names_an_outage(database_url):
    from smprod import db
    from smprod.errors import DatabaseError
    from smprod.mlops.retrain_policy import insitu_skill

    gone = db.make_engine(database_url.replace("/t_", "/missing_t_", 1))
    with pytest.raises(DatabaseError, match="reading the in situ skill of model v4"):
        insitu_skill(gone, "4")
