"""The retrain policy's rules and their order."""

from __future__ import annotations

from datetime import date

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
