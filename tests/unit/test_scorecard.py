"""The expert scorecard: scale, grades, calibration, reasons."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
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
    assert r[2] == "Declared area is 1.60 times the mapped field area"  # 1.0


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


@given(st.floats(0.05, 3.0), st.floats(0.0, 2.0))
def test_expert_scorecard__raising_the_loan_never_lowers_pd(burden, extra):
    X = _portfolio()
    card = ExpertScorecard().fit(X)
    row = X.iloc[[0]].assign(loan_burden=burden)
    assert card.predict_proba(row.assign(loan_burden=burden + extra))[0, 1] >= card.predict_proba(row)[0, 1]
