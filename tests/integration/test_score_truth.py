"""Pre-loan scores against the sample region's true defaults and its pre-season oracle (issue #6).

One region of ~200 farmers, scored as of the start of every loan season (2024 and 2025 as
``agririsk train`` rebuilds them, 2026 as ``agririsk score`` does): ~400 loans and ~40
defaults pooled. With that many defaults an AUC carries a standard error of about 0.04, so
the goals of issue #6 (expert AUC ≥ 0.70, ≥ 60 % of the pre-season oracle's lift; trained
model ≥ 80 %; per-grade calibration within 2 pp; thin-file AUC within 0.05) cannot be
asserted exactly without failing on sampling noise: these tests hold each goal less two
standard errors, and ``benchmarks/score_vs_truth.py`` measures the figures themselves on
regions five times larger, pooled over 12 of them with 95 % intervals (``--pool``,
docs/scorecard.md). Per-grade calibration (binomial sd 2-8 pp per grade at this size) and
the thin-file gap (a handful of thin-file defaults) are left to the benchmark.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from agririsk.pipeline import score_region
from agririsk.region import Region
from agririsk.sample import make_sample_region
from agririsk.scoring.scorecard import ExpertScorecard
from agririsk.scoring.validation import lift_share
from agririsk.training import train_region

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loans(tmp_path_factory) -> pd.DataFrame:
    """Every loan with features as of its season's start, both models' pd and the truth."""
    root = tmp_path_factory.mktemp("truth") / "region"
    region = Region.from_toml(make_sample_region(root, seed=21, n_parcels=500, size=512))
    fit = train_region(region, root.parent / "model.json")
    truth = pd.read_csv(root / "truth" / "defaults.csv", dtype={"farmer_id": str})
    cols = ["loan_id", "defaulted", "oracle_pd", "oracle_pd_preseason"]

    hist = fit.table[fit.table["data_quality"].eq("ok") | fit.table["data_quality"].str.startswith("limited")]
    expert = np.empty(len(hist))
    for _, idx in hist.groupby("season").indices.items():  # one calibration per season, as a bank would
        season = hist.iloc[idx]
        expert[idx] = ExpertScorecard().fit(season).predict_proba(season)[:, 1]
    past = hist[["loan_id", "season", "thin_file"]].assign(expert=expert, trained=np.nan)

    now = region.season.start.year
    e = score_region(region).scores.set_index("farmer_id")
    t = score_region(region, model=fit.model).scores.set_index("farmer_id")
    current = truth[truth["season"] == now].set_index("farmer_id")[["loan_id"]]
    current = current.join(e[["pd", "thin_file"]].rename(columns={"pd": "expert"})).join(t["pd"].rename("trained"))
    current = current[current["expert"].notna()].assign(season=now).reset_index(drop=True)
    both = pd.concat([past, current], ignore_index=True).drop(columns=["defaulted"], errors="ignore")
    return both.merge(truth[cols], on="loan_id", how="inner", validate="one_to_one")


def _auc(t: pd.DataFrame, col: str) -> float:
    return float(roc_auc_score(t["defaulted"], t[col]))


def test_truth__enough_loans_and_defaults(loans):
    assert len(loans) > 300 and loans["defaulted"].sum() >= 30, loans.groupby("season")["defaulted"].agg(["size", "sum"])


def test_preseason_oracle__between_chance_and_the_realised_ceiling(loans):
    pre, real = _auc(loans, "oracle_pd_preseason"), _auc(loans, "oracle_pd")
    # it knows everything but the season's weather: well above chance, not above the oracle that knows it too
    assert pre > 0.65, pre
    assert pre <= real + 0.02, (pre, real)


def test_expert_scorecard__lift_over_the_preseason_oracle(loans):
    pre, exp = _auc(loans, "oracle_pd_preseason"), _auc(loans, "expert")
    # goals 0.70 and 60 % of the oracle's lift, less two standard errors
    assert exp >= 0.62, exp
    assert lift_share(exp, pre) >= 0.40, (exp, pre)


def test_trained_model__lift_on_the_current_season(loans):
    now = loans[loans["trained"].notna()]  # current season: the model was fitted on the past seasons only
    pre, trained = _auc(now, "oracle_pd_preseason"), _auc(now, "trained")
    # goal 80 % of the oracle's lift, less two standard errors of a ~20-default season
    assert lift_share(trained, pre) >= 0.40, (trained, pre, int(now["defaulted"].sum()))
