"""Weighted Whittaker smoothing of parcel series: gap filling, cloud resistance, shape."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agririsk.crop_models.smoothing import smooth_series, value_column, whittaker
from agririsk.errors import MissingColumnError
from agririsk.region import Season

SEASON = Season(dt.date(2026, 4, 15), dt.date(2026, 10, 15))
T0 = dt.date(2026, 4, 1)


def double_logistic(
    day: np.ndarray, base=0.15, amp=0.7, t_up=60.0, s_up=7.0, t_down=150.0, s_down=8.0
):
    """NDVI on ``day`` (days since 1 April): green-up around t_up, senescence around t_down."""
    up = 1 / (1 + np.exp(-(day - t_up) / s_up))
    down = 1 / (1 + np.exp(-(day - t_down) / s_down))
    return base + amp * up * (1 - down)


def make_series(days, values, parcel="P1", clear=None) -> pd.DataFrame:
    """A parcel series with one row per day offset from 1 April 2026."""
    days = np.asarray(days)
    clear = np.ones(len(days)) if clear is None else np.asarray(clear, float)
    return pd.DataFrame(
        {
            "parcel_id": parcel,
            "datetime": pd.to_datetime([T0 + dt.timedelta(days=int(d)) for d in days], utc=True)
            + pd.Timedelta(hours=2, minutes=50),
            "clear_fraction": clear,
            "ndvi_mean": np.asarray(values, float),
        }
    )


def curve_on_grid(ds, parcel="P1") -> tuple[np.ndarray, np.ndarray]:
    """(days since 1 April, smoothed values) of the first season of ``ds``."""
    dates = pd.to_datetime(ds["date"].values[0])
    day = np.asarray((dates - pd.Timestamp(T0)).days)
    return day, ds["smoothed"].sel(parcel_id=parcel).values[0].astype(float)


def test_whittaker__tiny_lambda_interpolates_a_gap_linearly():
    z = whittaker([[0.0, np.nan, 2.0, 3.0]], [[1, 1, 1, 1]], lam=1e-6)
    np.testing.assert_allclose(z, [[0.0, 1.0, 2.0, 3.0]], atol=1e-5)


def test_whittaker__equals_the_dense_normal_equations():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(3, 40))
    w = rng.random((3, 40))
    y[w < 0.3] = np.nan
    z = whittaker(y, w, lam=50.0)
    d = np.diff(np.eye(40), 2, axis=0)
    for i in range(3):
        wi = np.where(np.isnan(y[i]), 0.0, w[i])
        expected = np.linalg.solve(np.diag(wi) + 50.0 * d.T @ d, wi * np.nan_to_num(y[i]))
        np.testing.assert_allclose(z[i], expected, atol=1e-10)


def test_whittaker__a_straight_line_is_kept_whatever_lambda():
    y = np.linspace(0.2, 0.8, 30)[None, :]
    np.testing.assert_allclose(whittaker(y, np.ones_like(y), lam=1e6), y, atol=1e-8)


def test_whittaker__two_observations_do_not_define_a_curve():
    y = np.full((1, 10), np.nan)
    y[0, [2, 7]] = 0.5
    assert np.isnan(whittaker(y, np.ones_like(y))).all()


def test_whittaker__rejects_a_non_positive_lambda():
    with pytest.raises(ValueError, match="lam must be > 0"):
        whittaker([[1.0, 2.0, 3.0]], [[1, 1, 1]], lam=0)


def test_smooth_series__recovers_a_double_logistic_under_gaps_and_a_residual_cloud():
    days = np.arange(0, 214, 5)
    keep = ~np.isin(days, [45, 95, 100, 105, 110, 170])  # three cloudy spells
    days = days[keep]
    values = double_logistic(days)
    cloud = int(np.flatnonzero(days == 120)[0])  # near the peak, labelled clear
    values[cloud] = 0.25
    ds = smooth_series(make_series(days, values), [SEASON])
    grid, z = curve_on_grid(ds)
    inside = (grid >= days[0]) & (grid <= days[-1])
    err = np.abs(z[inside] - double_logistic(grid[inside]))
    assert err.max() < 0.02
    assert abs(z[grid == 120][0] - double_logistic(np.array([120.0]))[0]) < 0.02
    assert ds["final_weight"].sel(parcel_id="P1").values[0][grid == 120][0] < 0.05


def test_smooth_series__a_gap_on_the_steepest_green_up_costs_little():
    days = np.arange(0, 214, 5)
    days = days[~np.isin(days, [45, 50])]  # 15 days without a view around the inflection
    grid, z = curve_on_grid(smooth_series(make_series(days, double_logistic(days)), [SEASON]))
    gap = (grid > 40) & (grid < 55)
    assert np.abs(z[gap] - double_logistic(grid[gap])).max() < 0.03


def test_smooth_series__ignores_observations_below_the_clear_fraction():
    days = np.arange(0, 214, 5)
    values = np.full(len(days), 0.5)
    clear = np.ones(len(days))
    values[10], clear[10] = 0.05, 0.1  # mostly cloudy: not used at all
    ds = smooth_series(make_series(days, values, clear=clear), [SEASON])
    assert ds["weight"].values[0, 0].max() == 1.0
    assert (ds["weight"].values[0, 0] > 0).sum() == len(days) - 1
    np.testing.assert_allclose(curve_on_grid(ds)[1][20:200], 0.5, atol=1e-6)


def test_smooth_series__does_not_extrapolate_far_beyond_the_data():
    days = np.arange(60, 120, 5)
    ds = smooth_series(make_series(days, np.full(len(days), 0.4)), [SEASON])
    grid, z = curve_on_grid(ds)
    assert np.isnan(z[grid < 60 - 10]).all() and np.isnan(z[grid > 115 + 10]).all()
    assert np.isfinite(z[(grid >= 50) & (grid <= 125)]).all()


def test_smooth_series__uses_the_median_ndvi_when_present():
    s = make_series([0, 5, 10], [0.3, 0.3, 0.3]).assign(ndvi_p50=0.6)
    assert value_column(s) == "ndvi_p50"
    assert smooth_series(s, [SEASON]).attrs["value"] == "ndvi_p50"


def test_smooth_series__names_the_missing_column():
    s = make_series([0, 5], [0.3, 0.3]).drop(columns="clear_fraction")
    with pytest.raises(MissingColumnError, match="clear_fraction"):
        smooth_series(s, [SEASON])


def test_smooth_series__aligns_seasons_on_the_same_day_of_season():
    days = np.arange(0, 214, 5)
    s23 = make_series(days, double_logistic(days)).assign(
        datetime=lambda d: d["datetime"] - pd.DateOffset(years=3)
    )
    ds = smooth_series(
        pd.concat([s23, make_series(days, double_logistic(days))]),
        [Season(dt.date(2023, 4, 15), dt.date(2023, 10, 15)), SEASON],
    )
    a, b = ds["smoothed"].values[:, 0]
    np.testing.assert_allclose(a, b, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(
    day=st.integers(min_value=0, max_value=213),
    value=st.floats(min_value=0.0, max_value=0.9),
    clear=st.floats(min_value=0.3, max_value=0.5),
)
def test_smooth_series__a_cloudy_low_observation_hardly_moves_the_peak(day, value, clear):
    """Adding one partly cloudy date that reads low never moves the peak by more than 0.03."""
    days = np.arange(0, 214, 5)
    base = make_series(days, double_logistic(days))
    extra = make_series(
        [day], [min(value, double_logistic(np.array([float(day)]))[0])], clear=[clear]
    )
    peak0 = np.nanmax(smooth_series(base, [SEASON])["smoothed"].values)
    peak1 = np.nanmax(smooth_series(pd.concat([base, extra]), [SEASON])["smoothed"].values)
    assert abs(peak1 - peak0) <= 0.03
