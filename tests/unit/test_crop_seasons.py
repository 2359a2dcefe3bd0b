"""Season indicators from a parcel time series."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from agririsk.crop_models.seasons import relative_productivity, robust_peak, season_indicators
from agririsk.region import Season


def test_robust_peak__single_spike_ignored():
    assert robust_peak(np.array([0.2, 0.5, 0.95, 0.6, 0.3])) == pytest.approx(0.6)


def test_robust_peak__two_agreeing_dates_count():
    assert robust_peak(np.array([0.2, 0.8, 0.82, 0.3])) == pytest.approx(0.8)


def test_robust_peak__short_and_empty():
    assert robust_peak(np.array([0.4, 0.6])) == pytest.approx(0.5)
    assert np.isnan(robust_peak(np.array([])))


def _series(values, dates, cf=1.0, pid="P1"):
    return pd.DataFrame(
        {
            "parcel_id": pid,
            "datetime": pd.to_datetime(dates, utc=True),
            "clear_fraction": cf,
            "ndvi_mean": values,
        }
    )


def test_season_indicators__counts_only_clear_dates_in_window():
    s = _series(
        [0.2, 0.4, 0.8, 0.8, 0.3, 0.9],
        ["2024-05-01", "2024-06-01", "2024-07-01", "2024-08-01", "2024-09-01", "2025-07-01"],
    )
    s.loc[1, "clear_fraction"] = 0.2  # cloudy: ignored
    out = season_indicators(s, [Season(dt.date(2024, 4, 15), dt.date(2024, 10, 15))], min_obs=3)
    row = out.iloc[0]
    assert row["n_obs"] == 4
    assert row["peak_ndvi"] == pytest.approx(0.8)
    assert bool(row["observed"])


def test_season_indicators__too_few_obs_is_not_observed():
    s = _series([0.5, 0.6], ["2024-06-01", "2024-07-01"])
    out = season_indicators(s, [Season(dt.date(2024, 4, 15), dt.date(2024, 10, 15))], min_obs=4)
    assert not out.iloc[0]["observed"]
    assert np.isnan(out.iloc[0]["peak_ndvi"])


def test_season_indicators__time_weighted_mean_of_flat_curve():
    s = _series([0.5] * 5, ["2024-05-01", "2024-06-01", "2024-07-01", "2024-08-01", "2024-09-01"])
    out = season_indicators(s, [Season(dt.date(2024, 4, 15), dt.date(2024, 10, 15))])
    assert out.iloc[0]["mean_ndvi"] == pytest.approx(0.5)


def test_relative_productivity__ranks_within_crop():
    ind = pd.DataFrame(
        {
            "parcel_id": [f"P{i}" for i in range(6)],
            "season_start": dt.date(2024, 4, 15),
            "season_end": dt.date(2024, 10, 15),
            "n_obs": 10,
            "peak_ndvi": [0.5, 0.6, 0.7, 0.8, 0.9, 0.3],
            "mean_ndvi": 0.4,
            "observed": True,
        }
    )
    crops = pd.Series(["maize"] * 5 + ["rice"], index=ind["parcel_id"])
    out = relative_productivity(ind, crops, min_peers=5)
    assert out["peak_pct"].iloc[:5].tolist() == pytest.approx([20, 40, 60, 80, 100])
    # rice has one field only: ranked among all six fields
    assert out["peak_pct"].iloc[5] == pytest.approx(100 / 6)
