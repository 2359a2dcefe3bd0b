"""Raising the loan amount never lowers pd: through the farm features, for both scorecards.

tests/unit/test_scorecard.py and test_scoring_trained.py vary ``loan_burden`` directly; here
the farmer's ``loan_amount`` goes through :func:`farm_features` (burden = loan ÷ expected
revenue of the measured cropped area) into the expert and the trained scorecard, for random
farms: other features held, a larger loan may never give a smaller pd.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from agririsk.scoring.features import WEATHER_FEATURES, farm_features
from agririsk.scoring.scorecard import ExpertScorecard
from agririsk.scoring.trained import TrainedScorecard

CROPS = ["maize", "soybean", "rice", "wheat", "other"]


def _farm(side_m: float, crop: str, declared_ha: float, pct: float | None, prior: float | None) -> tuple:
    parcels = gpd.GeoDataFrame(
        {"parcel_id": ["P1"], "farmer_id": ["F1"], "declared_crop": [crop], "declared_area_ha": [declared_ha]},
        geometry=[box(500000, 5_100_000, 500000 + side_m, 5_100_000 + side_m)],
        crs="EPSG:32651",
    )
    seasons = pd.DataFrame(
        {
            "parcel_id": ["P1", "P1"],
            "season_start": [dt.date(2024, 4, 15), dt.date(2025, 4, 15)],
            "season_end": [dt.date(2024, 10, 15), dt.date(2025, 10, 15)],
            "observed": [pct is not None] * 2,
            "peak_ndvi": [0.8, 0.75] if pct is not None else [np.nan, np.nan],
            "peak_pct": [pct, pct] if pct is not None else [np.nan, np.nan],
            "measured_area_ha": [side_m**2 / 1e4] * 2,
        }
    )
    record = {"farmer_id": "F1", "prior_loans": prior, "prior_defaults": 0.0 if prior else np.nan,
              "insured": True, "cooperative_member": False, "irrigated": False}
    return parcels, seasons, record


def _features(farm: tuple, loan: float) -> pd.DataFrame:
    parcels, seasons, record = farm
    farmers = pd.DataFrame([{**record, "loan_amount": loan}])
    f = farm_features(parcels, farmers, seasons)
    for col in WEATHER_FEATURES:
        f[col] = 0.9 if col == "weather_relative_yield_mean" else 0.0
    return f


def _portfolio(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Random farms whose defaults rise with the loan burden (to fit the trained card on)."""
    rng = np.random.default_rng(seed)
    side = rng.uniform(80, 400, n)
    x0 = 500000 + 1000.0 * np.arange(n)
    ids = [f"F{i}" for i in range(n)]
    parcels = gpd.GeoDataFrame(
        {"parcel_id": [f"P{i}" for i in range(n)], "farmer_id": ids, "declared_crop": rng.choice(CROPS, n),
         "declared_area_ha": side**2 / 1e4 * rng.uniform(0.9, 1.6, n)},
        geometry=[box(x, 5_100_000, x + s, 5_100_000 + s) for x, s in zip(x0, side, strict=True)],
        crs="EPSG:32651",
    )
    pct = rng.uniform(0, 100, n)
    seasons = pd.DataFrame(
        {
            "parcel_id": np.repeat(parcels["parcel_id"].to_numpy(), 2),
            "season_start": [dt.date(2024, 4, 15), dt.date(2025, 4, 15)] * n,
            "season_end": [dt.date(2024, 10, 15), dt.date(2025, 10, 15)] * n,
            "observed": True,
            "peak_ndvi": 0.8,
            "peak_pct": np.repeat(pct, 2),
            "measured_area_ha": np.repeat(side**2 / 1e4, 2),
        }
    )
    prior = rng.choice([0.0, 1.0, 2.0], n)
    farmers = pd.DataFrame({"farmer_id": ids, "loan_amount": rng.uniform(1000, 80000, n), "prior_loans": prior,
                            "prior_defaults": 0.0, "insured": rng.random(n) < 0.4,
                            "cooperative_member": False, "irrigated": False})
    X = farm_features(parcels, farmers, seasons)
    for col in WEATHER_FEATURES:
        X[col] = 0.9 if col == "weather_relative_yield_mean" else 0.0
    z = -3.0 + 1.5 * np.log(X["loan_burden"].astype(float).clip(0.05, 10).to_numpy())
    return X, (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)


_X, _Y = _portfolio()
CARDS = {
    "expert": ExpertScorecard().fit(_X),
    "trained": TrainedScorecard().fit(_X, _Y),
}


@settings(max_examples=40, deadline=None)
@given(
    side=st.floats(50, 600),
    crop=st.sampled_from(CROPS),
    declared=st.floats(0.1, 40),
    pct=st.one_of(st.none(), st.floats(0, 100)),
    prior=st.one_of(st.none(), st.sampled_from([0.0, 1.0, 3.0])),
    loan=st.floats(100, 200_000),
    factor=st.floats(1.0, 10.0),
)
def test_raising_the_loan_amount_never_lowers_pd(side, crop, declared, pct, prior, loan, factor):
    farm = _farm(side, crop, declared, pct, prior)
    small, large = _features(farm, loan), _features(farm, loan * factor)
    assert float(large["loan_burden"].iloc[0]) >= float(small["loan_burden"].iloc[0])
    for name, card in CARDS.items():
        p_small, p_large = card.predict_proba(small)[0, 1], card.predict_proba(large)[0, 1]
        assert p_large >= p_small - 1e-12, (name, loan, factor, p_small, p_large)
