"""Double-logistic season fit: recovers known inflections between sparse views, NaN when it cannot."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from agririsk.crop_models.seasonfit import (
    FIT_COLUMNS,
    after_harvest,
    double_logistic,
    fit_double_logistic,
    initial_guess,
    season_fit_features,
)
from agririsk.crop_models.smoothing import MARGIN_DAYS, smooth_series
from agririsk.region import Season

#: b0, b1, p, t_u, s_u, t_d, s_d of the test curves (days of the fitting axis)
TRUE = np.array([0.15, 0.25, 0.82, 80.0, 5.5, 175.0, 7.5])
SEASON = Season(dt.date(2026, 4, 15), dt.date(2026, 10, 15))


def linear_guess(t: np.ndarray, y: np.ndarray, n_day: int = 260) -> np.ndarray:
    """Initial values from a curve drawn straight between the views (a crude smoother)."""
    curves = [
        np.interp(
            np.arange(n_day), ti[np.isfinite(ti)], yi[np.isfinite(ti)], left=np.nan, right=np.nan
        )
        for ti, yi in zip(t, y, strict=True)
    ]
    return initial_guess(np.array(curves), np.nanmin(t, axis=1), np.nanmax(t, axis=1))


def sparse_views(
    offsets: np.ndarray, gap: float = 25.0, noise: float = 0.01, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """One view every ``gap`` days from each offset, over 0-250 d, of the :data:`TRUE` curve."""
    rng = np.random.default_rng(seed)
    t = offsets[:, None] + np.arange(0.0, 250.0, gap)[None, :]
    y = double_logistic(t, np.tile(TRUE, (len(t), 1))) + rng.normal(0.0, noise, t.shape)
    return t, y


def test_double_logistic__bases_plateau_and_half_way_at_the_inflections() -> None:
    v = double_logistic([-100.0, 80.0, 128.0, 175.0, 400.0], TRUE)
    assert v[0] == pytest.approx(0.15, abs=1e-6) and v[-1] == pytest.approx(0.25, abs=1e-6)
    assert v[2] == pytest.approx(0.82, abs=2e-3)
    assert v[1] == pytest.approx((0.15 + 0.82) / 2, abs=2e-3)
    assert v[3] == pytest.approx((0.25 + 0.82) / 2, abs=2e-3)


def test_fit__recovers_the_inflections_between_25_day_gaps() -> None:
    """Views every 25 days at every phase: where a view is on the slope, the inflection within 4 days.

    The green-up's 10-90 % rise takes 24 days (4.4 x 5.5), so a 25-day gap may step over
    it: those phases are not identifiable.
    """
    t, y = sparse_views(np.linspace(0.0, 24.0, 40))
    guess = linear_guess(t, y)
    fit = fit_double_logistic(t, y, guess)
    assert fit.greenup_ok.mean() > 0.8 and fit.senescence_ok.all()
    ok = fit.greenup_ok
    err_up = np.abs(fit.theta[ok, 3] - TRUE[3])
    err_down = np.abs(fit.theta[:, 5] - TRUE[5])
    assert err_up.max() < 4.0 and err_down.max() < 4.0
    assert err_up.mean() < 1.5 and err_down.mean() < 1.5
    assert err_up.mean() < np.abs(guess[ok, 3] - TRUE[3]).mean()
    assert np.all(fit.rmse < 0.02) and (fit.n_views == 10).all()


def test_fit__an_inflection_without_a_view_on_its_slope_is_not_identifiable() -> None:
    """A 50-day gap over the whole green-up: no green-up day, the senescence still dated."""
    t = np.array([[0.0, 25.0, 50.0, 110.0, 135.0, 160.0, 170.0, 180.0, 195.0, 220.0]])
    y = double_logistic(t, TRUE)
    fit = fit_double_logistic(t, y, linear_guess(t, y))
    assert not fit.greenup_ok[0]
    assert fit.senescence_ok[0] and abs(fit.theta[0, 5] - TRUE[5]) < 3.0


def test_fit__too_few_views_or_no_season_is_not_fitted() -> None:
    t = np.array(
        [
            [0.0, 60.0, 120.0, 180.0, 240.0, np.nan, np.nan],
            [0.0, 30.0, 60.0, 90.0, 120.0, 150.0, 180.0],
        ]
    )
    y = np.vstack([double_logistic(t[0], TRUE), np.full(7, 0.2)])  # 5 views; bare soil all season
    fit = fit_double_logistic(
        t, y, linear_guess(np.nan_to_num(t, nan=250.0), np.nan_to_num(y, nan=0.2))
    )
    assert np.isnan(fit.theta[0]).all() and not fit.greenup_ok[0]
    assert not fit.greenup_ok[1] and not fit.senescence_ok[1]
    assert fit.n_views.tolist() == [5, 7]


def test_fit__a_view_of_weight_zero_does_not_pull_the_curve() -> None:
    t, y = sparse_views(np.array([5.0]), gap=20.0)
    y[0, 6] = 0.3  # a hazy view at the peak (day 125)
    w = np.ones_like(y)
    w[0, 6] = 0.0
    fit = fit_double_logistic(t, y, linear_guess(t, y), weights=w)
    assert abs(fit.theta[0, 3] - TRUE[3]) < 3.0 and abs(fit.theta[0, 5] - TRUE[5]) < 3.0
    assert fit.n_views[0] == len(t[0]) - 1


def test_after_harvest__drops_the_stubble_views_not_the_dry_canopy() -> None:
    """Views after the peak at the post-season floor go (two or more); a single low last view stays."""
    y = np.array(
        [
            [0.15, 0.5, 0.85, 0.7, 0.33, 0.21, 0.21, np.nan],  # dry canopy 0.33, then stubble
            [
                0.15,
                0.5,
                0.85,
                0.7,
                0.5,
                0.33,
                np.nan,
                np.nan,
            ],  # mid-season: the decline's last view
            [0.2, 0.21, 0.22, 0.2, 0.21, 0.2, 0.21, 0.2],  # no season
        ]
    )
    drop = after_harvest(y)
    assert drop[0].tolist() == [False] * 5 + [True, True, False]
    assert not drop[1:].any()


def test_season_fit_features__days_since_the_season_start_and_nan_when_truncated() -> None:
    """From a parcel series: the fitted days on the season's axis; a truncated season has no senescence."""
    t = np.arange(-15.0, 190.0, 12.0)  # days since the season start
    true = TRUE.copy()
    true[3], true[5] = 40.0 + MARGIN_DAYS, 130.0 + MARGIN_DAYS  # on the smoothing's axis
    y = double_logistic(t + MARGIN_DAYS, true)
    series = pd.DataFrame(
        {
            "parcel_id": "P0",
            "item_id": [f"I{k}" for k in range(len(t))],
            "datetime": [
                pd.Timestamp(SEASON.start, tz="UTC") + pd.Timedelta(days=int(d)) for d in t
            ],
            "clear_fraction": 1.0,
            "ndvi_p50": y,
        }
    )
    daily = smooth_series(series, [SEASON])
    full = season_fit_features(daily, clear_view=0.6, offset_days=MARGIN_DAYS)
    assert list(full.columns) == list(FIT_COLUMNS)
    row = full.loc[("P0", SEASON.start)]
    assert row["fit_greenup_day"] == pytest.approx(40.0, abs=3.0)
    assert row["fit_senescence_day"] == pytest.approx(130.0, abs=3.0)
    assert row["fit_season_days"] == pytest.approx(90.0, abs=4.0)
    cut = season_fit_features(
        daily, clear_view=0.6, offset_days=MARGIN_DAYS, last_day=MARGIN_DAYS + 100
    )
    row = cut.loc[("P0", SEASON.start)]
    assert row["fit_greenup_day"] == pytest.approx(40.0, abs=3.0)
    assert np.isnan(row["fit_senescence_day"]) and np.isnan(row["fit_season_days"])
