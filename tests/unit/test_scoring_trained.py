"""The trained scorecard, its model file and the validation measures."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agririsk.scoring.scorecard import ExpertScorecard
from agririsk.scoring.trained import ModelFileError, TrainedScorecard, load_model, save_model
from agririsk.scoring.validation import (
    auc,
    calibration_by_grade,
    discrimination,
    min_loans_for_calibration,
    psi,
    stratified_bootstrap,
)


def _history(n=400, seed=0):
    """Loans whose defaults follow loan burden and prior defaults, as the expert card assumes."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "loan_burden": rng.uniform(0.1, 1.8, n),
            "productivity_pct": rng.uniform(0, 100, n),
            "poor_seasons": rng.integers(0, 3, n).astype(float),
            "peak_ndvi_cv": rng.uniform(0.02, 0.3, n),
            "area_ratio": rng.choice([1.0, 1.0, 1.0, 1.5], n),
            "prior_defaults": rng.choice([0.0, 0.0, 0.0, 1.0, np.nan], n),
            "prior_loans": rng.choice([0.0, 2.0, 3.0, np.nan], n),
            "insured": rng.random(n) < 0.3,
            "cooperative_member": rng.random(n) < 0.3,
            "irrigated": rng.random(n) < 0.2,
            "weather_drought_frequency": rng.choice([0.0, 0.33, 0.67], n),
            "weather_relative_yield_mean": rng.uniform(0.5, 1.0, n),
        }
    )
    z = -3.2 + 2.0 * X["loan_burden"] + 1.2 * X["prior_defaults"].fillna(0) + 0.8 * (X["area_ratio"] > 1.2)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return X, y


def test_trained_scorecard__coefficients_nonnegative_and_fit_the_signal():
    X, y = _history()
    m = TrainedScorecard(shrinkage=0.5).fit(X, y)
    assert (m.coef_ >= 0).all()
    names = [f.name for f in m.factors]
    # burden and defaults drive the outcome: their weights are kept; noise factors shrink
    assert m.coef_[names.index("loan_burden")] > 0.5
    assert m.coef_[names.index("prior_defaults")] > 0.5
    p = m.predict_proba(X)[:, 1]
    assert p.mean() == pytest.approx(y.mean(), abs=0.02)  # the intercept calibrates to the history


def test_trained_scorecard__needs_both_outcomes():
    X, _ = _history(20)
    with pytest.raises(ValueError, match="both repaid and defaulted"):
        TrainedScorecard().fit(X, np.zeros(20))


@settings(max_examples=25, deadline=None)
@given(st.floats(0.05, 3.0), st.floats(0.0, 2.0))
def test_trained_scorecard__raising_the_loan_never_lowers_pd(burden, extra):
    X, y = _history(200)
    m = TrainedScorecard().fit(X, y)
    row = X.iloc[[0]].assign(loan_burden=burden)
    bigger = row.assign(loan_burden=burden + extra)
    assert m.predict_proba(bigger)[0, 1] >= m.predict_proba(row)[0, 1] - 1e-12


def test_model_file__round_trip(tmp_path):
    X, y = _history()
    m = TrainedScorecard().fit(X, y)
    path = save_model(m, tmp_path / "model.json", {"training_seasons": [2024]})
    m2, meta = load_model(path)
    assert meta["training_seasons"] == [2024]
    np.testing.assert_allclose(m2.predict_proba(X), m.predict_proba(X))
    assert m2.reasons(X.iloc[:5]).equals(m.reasons(X.iloc[:5]))


def test_model_file__tampered_is_refused(tmp_path):
    X, y = _history()
    path = save_model(TrainedScorecard().fit(X, y), tmp_path / "model.json", {})
    doc = json.loads(path.read_text())
    doc["model"]["intercept"] += 1.0
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="changed after it was written"):
        load_model(path)


def test_model_file__other_feature_set_is_refused(tmp_path):
    X, y = _history()
    path = save_model(TrainedScorecard().fit(X, y), tmp_path / "model.json", {})
    doc = json.loads(path.read_text())
    doc["metadata"]["feature_set"] = "someone-else-1"
    from agririsk.scoring.trained import _digest

    doc["sha256"] = _digest({"model": doc["model"], "metadata": doc["metadata"]})
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="feature set"):
        load_model(path)


def test_model_file__not_a_model_and_pickle_refused(tmp_path):
    bad = tmp_path / "model.pkl"
    bad.write_bytes(b"\x80\x04\x95")  # a pickle header: never unpickled
    with pytest.raises(ModelFileError, match="not an agririsk model file"):
        load_model(bad)
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.json")


def test_check_features__missing_feature_named():
    X, y = _history()
    m = TrainedScorecard().fit(X, y)
    with pytest.raises(ModelFileError, match="loan_burden"):
        m.check_features(X.drop(columns="loan_burden"))


def test_discrimination__perfect_and_hand_checked():
    d = discrimination(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4]))
    assert d["auc"] == 1.0 and d["gini"] == 1.0 and d["ks"] == 1.0
    # Brier: ((0.1)^2 + (0.2)^2 + (0.7)^2 + (0.6)^2) / 4 = 0.225
    assert d["brier"] == pytest.approx(0.225)


def test_calibration_by_grade__observed_vs_predicted():
    t = calibration_by_grade(np.array([0, 1, 0, 0]), np.array([0.01, 0.01, 0.3, 0.3]))
    assert t.loc["A", "observed"] == 0.5 and t.loc["E", "predicted"] == pytest.approx(0.3)


def test_psi__same_population_small_shifted_large():
    rng = np.random.default_rng(1)
    a, b = pd.Series(rng.normal(size=2000)), pd.Series(rng.normal(size=2000))
    assert psi(a, b) < 0.05
    assert psi(a, b + 1.0) > 0.25
    assert psi(pd.Series([1.0, 2.0] * 50), pd.Series([1.0, 2.0] * 50)) == pytest.approx(0.0)


def test_expert_and_trained_share_the_band_sentences():
    X, y = _history()
    e = ExpertScorecard().fit(X)
    t = TrainedScorecard(shrinkage=1e6).fit(X, y)  # huge shrinkage: β ≈ 1, the expert weights
    np.testing.assert_allclose(t.coef_, 1.0, atol=1e-3)
    # the same band weights behind the sentences (ties may be ordered differently)
    np.testing.assert_allclose(t.contributions(X).to_numpy(), e.contributions(X).to_numpy(), atol=5e-3)


def test_trained_scorecard__season_effects_do_not_leak_into_weights():
    """A feature that shifts between seasons must not take the blame for a season's weather.

    Two seasons: the first (a drought) defaults twice as often for everyone and most of its
    loans are thin files; the second holds only farmers with history. Outcomes do not depend on
    credit history at all. One shared intercept reads the drought as risk of the thin file
    (a β well above 0 for prior_defaults, whose "none on file" band carries the thin file);
    one intercept per season does not, and the model's level stays the history's rate.
    """
    rng = np.random.default_rng(3)
    X, _ = _history(3000, seed=3)
    season = np.repeat([2024, 2025], 1500)
    X["prior_defaults"] = np.where((season == 2024) & (rng.random(3000) < 0.7), np.nan, 0.0)
    X["prior_loans"] = np.where(np.isnan(X["prior_defaults"]), np.nan, 1.0)
    z = -2.6 + 1.5 * np.log(X["loan_burden"]) + np.where(season == 2024, 1.0, -0.5)
    y = (rng.random(3000) < 1 / (1 + np.exp(-z))).astype(int)
    names = [f.name for f in TrainedScorecard().factors]
    shared = TrainedScorecard(shrinkage=0.0).fit(X, y)
    by_season = TrainedScorecard(shrinkage=0.0).fit(X, y, season=season)
    i = names.index("prior_defaults")
    assert shared.coef_[i] > 2.0, shared.coef_[i]  # the drought read as thin-file risk
    assert by_season.coef_[i] < 0.5, by_season.coef_[i]
    assert set(by_season.season_intercepts_) == {"2024", "2025"}
    assert by_season.season_intercepts_["2024"] > by_season.season_intercepts_["2025"] + 1.0
    assert by_season.predict_proba(X)[:, 1].mean() == pytest.approx(y.mean(), abs=1e-6)


def test_trained_scorecard__season_labels_must_match_rows():
    X, y = _history(100)
    with pytest.raises(ValueError, match="one label per row"):
        TrainedScorecard().fit(X, y, season=[2024] * 99)


def test_calibration_by_grade__judged_only_with_enough_loans():
    rng = np.random.default_rng(0)
    p = np.full(1000, 0.10)  # grade D, needs 9604 · 0.1 · 0.9 = 865 loans
    y = (rng.random(1000) < 0.10).astype(int)
    t = calibration_by_grade(y, p)
    assert t.loc["D", "min_loans"] == 865 and bool(t.loc["D", "enough"])
    assert t.loc["D", "half_width"] == pytest.approx(1.96 * np.sqrt(0.09 / 1000), abs=1e-3)
    small = calibration_by_grade(y[:100], p[:100])
    assert not bool(small.loc["D", "enough"])
    assert min_loans_for_calibration(0.3) == 2017 and min_loans_for_calibration(0.015) == 142


def test_auc__equals_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    y = rng.random(300) < 0.2
    s = np.round(rng.random(300) + 0.3 * y, 1)  # many ties
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert np.isnan(auc(np.zeros(5), np.arange(5)))


def test_stratified_bootstrap__interval_covers_and_keeps_strata():
    rng = np.random.default_rng(4)
    strata = np.repeat([1, 2], [200, 50])
    x = np.where(strata == 1, rng.normal(0, 1, 250), rng.normal(5, 1, 250))
    seen = []

    def mean_and_record(idx):
        seen.append(int((strata[idx] == 2).sum()))
        return float(x[idx].mean())

    est, lo, hi = stratified_bootstrap(strata, mean_and_record, n_boot=300)
    assert lo < est < hi and hi - lo < 0.5
    assert set(seen) == {50}  # every resample keeps each stratum's size
