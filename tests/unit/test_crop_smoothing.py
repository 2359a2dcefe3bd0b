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


def random_series(n_parcels=40, seed=3) -> pd.DataFrame:
    """Crops with random timing, clouds (low values), missed dates and some empty parcels."""
    rng = np.random.default_rng(seed)
    frames = []
    for p in range(n_parcels):
        n = int(rng.integers(0, 30)) if p % 7 else int(rng.integers(0, 3))
        days = np.sort(rng.choice(np.arange(0, 220), size=n, replace=False))
        v = double_logistic(days, t_up=rng.uniform(40, 80), t_down=rng.uniform(130, 170))
        v = np.where(rng.random(n) < 0.2, v - rng.uniform(0.1, 0.5, n), v)
        frames.append(make_series(days, v, parcel=f"P{p:03d}", clear=rng.uniform(0.2, 1.0, n)))
    return pd.concat(frames, ignore_index=True)


def dense_robust_fit(y, w0, lam=100.0, n_iter=3, c=4.0):
    """The upper-envelope fit written plainly on (parcel, day) arrays, parcel by parcel."""
    obs = w0 > 0
    w = w0.copy()
    z = whittaker(y, w, lam)
    for _ in range(n_iter):
        r = np.where(obs, y - z, 0.0)
        scale = np.full(len(y), 0.02)
        for i in range(len(y)):
            s = 1.4826 * np.median(np.abs(r[i, obs[i]])) if obs[i].any() else np.nan
            scale[i] = max(s, 0.02) if np.isfinite(s) else 0.02
        u = r / (c * scale[:, None])
        b = np.where(r >= 0, 1.0, np.clip(1.0 - u**2, 0.0, 1.0) ** 2)
        w = w0 * np.where(obs, b, 0.0)
        z = whittaker(y, w, lam)
    return z, w


def test_smooth_series__same_floats_as_the_dense_fit_parcel_by_parcel():
    series = random_series()
    ds = smooth_series(series, [SEASON])
    start = SEASON.start - dt.timedelta(days=20)
    n_days = ds.sizes["day"]
    pids = list(ds["parcel_id"].values)
    y = np.full((len(pids), n_days), np.nan)
    w0 = np.zeros((len(pids), n_days))
    day = (
        pd.to_datetime(series["datetime"]).dt.tz_localize(None).dt.normalize() - pd.Timestamp(start)
    ).dt.days
    keep = (day >= 0) & (day < n_days) & (series["clear_fraction"] >= 0.3)
    rows = [pids.index(p) for p in series.loc[keep, "parcel_id"]]
    y[rows, day[keep]] = series.loc[keep, "ndvi_mean"]
    w0[rows, day[keep]] = series.loc[keep, "clear_fraction"]
    z, w = dense_robust_fit(y, w0)
    got = ds["smoothed"].values[0]
    shown = np.isfinite(got)
    assert shown.any() and np.isnan(got[np.isnan(z)]).all()
    np.testing.assert_array_equal(got[shown], z[shown].astype(np.float32))
    np.testing.assert_array_equal(ds["final_weight"].values[0], w.astype(np.float32))
    np.testing.assert_array_equal(ds["weight"].values[0], w0.astype(np.float32))
    np.testing.assert_array_equal(ds["observed"].values[0], y.astype(np.float32))


def test_smooth_series__batches_of_parcels_give_the_same_result(monkeypatch):
    import agririsk.crop_models.smoothing as sm

    series = random_series(n_parcels=30, seed=5)
    seasons = [SEASON, Season(dt.date(2026, 5, 1), dt.date(2026, 9, 30))]
    whole = smooth_series(series, seasons)
    monkeypatch.setattr(sm, "_BATCH", 4)
    batched = smooth_series(series, seasons)
    for name in ("smoothed", "observed", "weight", "final_weight"):
        np.testing.assert_array_equal(batched[name].values, whole[name].values)
