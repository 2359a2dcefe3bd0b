"""The expert scorecard: scale, grades, calibration, reasons."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agririsk.scoring.scorecard import (
    DEFAULT_FACTORS,
    Band,
    ExpertScorecard,
    Factor,
    grade_of,
    pd_to_score,
)


def _portfolio(n=8):
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "loan_burden": rng.uniform(0.1, 1.6, n),
            "productivity_pct": rng.uniform(0, 100, n),
            "poor_seasons": rng.integers(0, 3, n).astype(float),
            "peak_ndvi_cv": rng.uniform(0.01, 0.3, n),
            "area_ratio": rng.uniform(0.95, 1.8, n),
            "prior_defaults": [np.nan, 0, 1, 0, 2, 0, np.nan, 0][:n],
            "prior_loans": [np.nan, 3, 2, 1, 4, 0, np.nan, 5][:n],
            "insured": pd.array(
                [True, False, None, True, False, True, False, True][:n], dtype="boolean"
            ),
            "cooperative_member": [True, False] * (n // 2),
            "irrigated": [False] * n,
            "weather_drought_frequency": [0.0, 0.33, 0.67, 0.0, np.nan, 0.33, 0.0, 1.0][:n],
            "weather_relative_yield_mean": [0.95, 0.8, 0.6, 0.99, np.nan, 0.9, 0.97, 0.5][:n],
        },
        index=pd.Index([f"F{i}" for i in range(n)], name="farmer_id"),
    )


def test_pd_to_score__anchor_and_doubling():
    # 600 points at odds 50:1; 20 more points double the odds (CONTRACTS.md §7)
    assert pd_to_score(1 / 51) == pytest.approx(600.0)
    assert pd_to_score(1 / 101) == pytest.approx(620.0)
    assert pd_to_score(1 / 26) == pytest.approx(580.0)


def test_grade_of__edges_and_nan():
    assert list(grade_of(np.array([0.01, 0.02, 0.049, 0.07, 0.15, 0.5, np.nan]))) == [
        "A",
        "B",
        "B",
        "C",
        "D",
        "E",
        "",
    ]


def test_factor_weights__bands_and_missing():
    f = Factor(
        "x",
        "x",
        (Band(1.0, -1.0), Band(2.0, 0.5, "x is {value:.1f}"), Band(math.inf, 2.0)),
        0.25,
        "x unknown",
    )
    w, reasons = f.weights(pd.Series([0.5, 1.0, 1.5, 7.0, np.nan]))
    assert list(w) == [-1.0, 0.5, 0.5, 2.0, 0.25]
    assert reasons == [None, "x is 1.0", "x is 1.5", None, "x unknown"]


def test_expert_scorecard__calibrated_to_target_rate():
    X = _portfolio()
    card = ExpertScorecard(target_default_rate=0.1).fit(X)
    p = card.predict_proba(X)[:, 1]
    assert p.mean() == pytest.approx(0.1, abs=1e-6)
    assert ((p > 0) & (p < 1)).all()


def test_expert_scorecard__riskier_factors_raise_pd():
    X = _portfolio()
    card = ExpertScorecard().fit(X)
    worse = X.copy()
    worse["loan_burden"] = 2.0
    worse["prior_defaults"] = 2
    assert (card.predict_proba(worse)[:, 1] >= card.predict_proba(X)[:, 1]).all()


def test_expert_scorecard__reasons_are_adverse_and_ordered():
    X = _portfolio().iloc[[4]]
    X = X.assign(loan_burden=1.8, area_ratio=1.6, prior_defaults=2.0)
    card = ExpertScorecard().fit(_portfolio())
    r = card.reasons(X).iloc[0].tolist()
    assert r[0] == "2 earlier loans defaulted"  # weight 1.5
    assert r[1] == "Loan is 1.8 times the expected crop revenue"  # 1.3
    assert r[2] == "Declared area is 1.6 times the area seen cropped on satellite images"  # 1.0


def test_expert_scorecard__decide_cutoffs_and_nan():
    card = ExpertScorecard(approve_below=0.05, decline_above=0.2)
    assert list(card.decide(np.array([0.01, 0.1, 0.3, np.nan]))) == [
        "approve",
        "review",
        "decline",
        "review",
    ]


def test_expert_scorecard__unfitted_raises():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ExpertScorecard().predict_proba(_portfolio())


def test_expert_scorecard__missing_feature_named():
    with pytest.raises(ValueError, match="loan_burden"):
        ExpertScorecard().fit(_portfolio().drop(columns="loan_burden"))


@settings(deadline=None)  # timing varies on a shared machine; the property is what is tested
@given(st.lists(st.floats(0, 5), min_size=2, max_size=30), st.floats(0.01, 0.5))
def test_expert_scorecard__pd_in_unit_interval(burdens, rate):
    X = pd.concat([_portfolio(2)] * 15, ignore_index=True).iloc[: len(burdens)]
    X["loan_burden"] = burdens
    p = ExpertScorecard(target_default_rate=rate).fit(X).predict_proba(X)[:, 1]
    assert np.all((p >= 0) & (p <= 1))


def test_default_factors__every_adverse_band_explains_itself():
    for f in DEFAULT_FACTORS:
        for b in f.bands:
            if b.weight >= 0.3:
                assert b.reason, f"{f.name} band < {b.upper} adds risk without a reason"


@settings(deadline=None)
@given(st.floats(0.05, 3.0), st.floats(0.0, 2.0))
def test_expert_scorecard__raising_the_loan_never_lowers_pd(burden, extra):
    X = _portfolio()
    card = ExpertScorecard().fit(X)
    row = X.iloc[[0]].assign(loan_burden=burden)
    assert card.predict_proba(row.assign(loan_burden=burden + extra))[0, 1] >= card.predict_proba(row)[0, 1]


def test_area_ratio_factor__flags_at_the_overstatement_level():
    from agririsk.crop_models.declared import OVERSTATEMENT_FLAG

    f = next(f for f in DEFAULT_FACTORS if f.feature == "area_ratio")
    w, reasons = f.weights(pd.Series([1.0, 1.2, OVERSTATEMENT_FLAG - 0.01, OVERSTATEMENT_FLAG, 1.6]))
    assert list(w) == [0.0, 0.4, 0.4, 1.0, 1.0]  # the top band starts where crop_checks flags
    assert reasons[0] is None
    assert reasons[4] == "Declared area is 1.6 times the area seen cropped on satellite images"


def _with_crop_checks(X, share, words):
    return X.assign(crop_mismatch_share=share, crop_mismatch_fields=words)


def test_crop_mismatch_factor__reason_names_the_mismatch_in_words():
    X = _portfolio()
    share = [np.nan] * 6 + [0.0, 2 / 3]
    words = [""] * 7 + ["soybean, not the declared maize, on 2 of 3 fields"]
    card = ExpertScorecard().fit(_with_crop_checks(X, share, words))
    contrib = card.contributions(_with_crop_checks(X, share, words))["crop_mismatch"]
    assert list(contrib) == [0.0] * 7 + [1.0]  # not checked and no mismatch weigh nothing
    worst = _with_crop_checks(X, share, words).iloc[[7]].assign(
        loan_burden=0.2, productivity_pct=80.0, prior_defaults=0.0, area_ratio=1.0,
        weather_drought_frequency=0.0, weather_relative_yield_mean=0.95, peak_ndvi_cv=0.05,
    )
    r = card.reasons(worst).iloc[0].tolist()
    assert r[0] == "Satellite images show soybean, not the declared maize, on 2 of 3 fields"


def test_crop_mismatch_factor__one_field_of_several_weighs_less_than_most():
    f = next(f for f in DEFAULT_FACTORS if f.feature == "crop_mismatch_share")
    share = pd.Series([np.nan, 0.0, 0.2, 0.5, 1.0])
    words = pd.DataFrame({"crop_mismatch_fields": ["", "", "x", "y", "z"]})
    w, reasons = f.weights(share, words)
    assert list(w) == [0.0, 0.0, 0.6, 1.0, 1.0]
    assert reasons == [None, None, "Satellite images show x", "Satellite images show y", "Satellite images show z"]
    with pytest.raises(ValueError, match="crop_mismatch_fields"):
        f.weights(share)


def test_crop_mismatch_factor__unchecked_or_absent_changes_no_pd():
    X = _portfolio()
    p_absent = ExpertScorecard().fit(X).predict_proba(X)[:, 1]
    unchecked = _with_crop_checks(X, np.nan, "")
    p_nan = ExpertScorecard().fit(unchecked).predict_proba(unchecked)[:, 1]
    np.testing.assert_allclose(p_absent, p_nan)
    assert ExpertScorecard().fit(X).reasons(X).equals(ExpertScorecard().fit(unchecked).reasons(unchecked))


def test_trained_scorecard__feature_never_seen_in_training_keeps_the_expert_weight(tmp_path):
    """Training rows are pre-loan (season start): the crop checks are NaN in all of them.
    The factor's β then stays at the expert weight (the shrinkage prior), so a mid-season
    re-score with the trained model still weighs a mismatch, and the training fit is the
    same as without the factor."""
    from agririsk.scoring.trained import TrainedScorecard, load_model, save_model

    rng = np.random.default_rng(1)
    X = pd.concat([_portfolio()] * 40, ignore_index=True)
    X["loan_burden"] = rng.uniform(0.1, 1.8, len(X))
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-(-3 + 2 * X["loan_burden"])))).astype(int)
    history = _with_crop_checks(X, np.nan, "")
    m = TrainedScorecard().fit(history, y)
    names = [f.name for f in m.factors]
    assert m.coef_[names.index("crop_mismatch")] == pytest.approx(1.0)
    without = TrainedScorecard().fit(X, y)
    np.testing.assert_allclose(m.predict_proba(X)[:, 1], without.predict_proba(X)[:, 1], atol=1e-6)
    m2, _ = load_model(save_model(m, tmp_path / "model.json", {}))
    row = _with_crop_checks(X.iloc[[0]], 1.0, "maize, not the declared soybean, on 1 of 1 field")
    clean = _with_crop_checks(X.iloc[[0]], 0.0, "")
    assert m2.predict_proba(row)[0, 1] > m2.predict_proba(clean)[0, 1]
    assert "Satellite images show maize, not the declared soybean, on 1 of 1 field" in m2.reasons(row).iloc[0].tolist()


def test_peer_productivity_factor__below_the_neighbours_raises_pd_with_a_reason():
    X = _portfolio(2).iloc[[0, 0, 0]]  # three farms alike in everything else
    X.index = pd.Index(["low", "high", "unknown"], name="farmer_id")
    X = X.assign(loan_burden=0.6, peer_productivity=[-0.10, 0.05, np.nan])
    card = ExpertScorecard().fit(X)
    p = pd.Series(card.predict_proba(X)[:, 1], index=X.index)
    assert p["low"] > p["unknown"] > p["high"]  # no peers: neither penalty nor bonus
    assert "neighbouring fields" in " ".join(card.reasons(X).loc["low"])
    # a table built before the factor existed is still scored (the factor counts as unknown)
    ExpertScorecard().fit(X.drop(columns="peer_productivity"))
