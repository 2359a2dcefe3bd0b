"""Agro-climatic indices: hand-checked values, SPI on synthetic records, units honoured."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from agririsk.weather.indices import (
    climatic_water_balance,
    frost_days,
    growing_degree_days,
    heat_stress_days,
    longest_dry_spell,
    spi,
    spi_kernel,
)


def daily(values, start="2024-05-01", units=None) -> pd.Series:
    s = pd.Series(np.asarray(values, dtype=float), index=pd.date_range(start, periods=len(values)))
    if units:
        s.attrs["units"] = units
    return s


def test_growing_degree_days__base_and_upper_cutoff():
    # McMaster & Wilhelm method 2, base 10, upper 30:
    # (10 + 15)/2 - 10 = 2.5; (12 + 30)/2 - 10 = 11; (20 + 30)/2 - 10 = 15
    tmin, tmax = daily([5, 12, 20]), daily([15, 30, 40])
    assert growing_degree_days(tmin, tmax, 10, 30) == pytest.approx(28.5)
    # without the upper cut-off the hot day counts in full: (20 + 40)/2 - 10 = 20
    assert growing_degree_days(tmin, tmax, 10) == pytest.approx(33.5)


def test_heat_frost_dry_spell_and_water_balance__hand_counts():
    assert heat_stress_days(daily([30, 36, 35, 37.5]), 35) == 2
    assert frost_days(daily([1, -0.5, 0, -3])) == 2
    assert longest_dry_spell(daily([5, 0, 0.5, 0, 2, 0, 0])) == 3
    assert climatic_water_balance(daily([10, 0, 4]), daily([3, 4, 5])) == pytest.approx(2.0)


def test_indices__missing_day_gives_nan_not_a_guess():
    assert np.isnan(frost_days(daily([1, np.nan, -2])))
    assert np.isnan(longest_dry_spell(daily([0, np.nan, 0])))
    assert np.isnan(growing_degree_days(daily([10, np.nan]), daily([20, 25]), 10))


def gamma_record(years: int, seed: int = 3) -> pd.Series:
    """Daily rain whose monthly totals are gamma-like: wet days with gamma amounts."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("1961-01-01", periods=365 * years + years // 4, freq="D")
    wet = rng.random(len(days)) < 0.3
    return pd.Series(np.where(wet, rng.gamma(0.8, 8.0, len(days)), 0.0), index=days)


@pytest.mark.parametrize("scale", [1, 3])
def test_spi__gamma_record_is_standard_normal(scale):
    index = spi(gamma_record(60), scale).dropna()
    assert index.attrs["spi_method"] == "per-month"
    assert abs(index.mean()) < 0.05
    assert index.std() == pytest.approx(1.0, abs=0.05)
    assert stats.kstest(index, "norm").pvalue > 0.01


def test_spi_kernel__monthly_gamma_totals_with_zero_months():
    # monthly totals drawn from a gamma directly, with 10 % dry months (zero-precipitation probability q)
    rng = np.random.default_rng(7)
    n = 12 * 80
    totals = np.where(rng.random(n) < 0.1, 0.0, rng.gamma(2.0, 30.0, n))
    values, method = spi_kernel(totals, np.tile(np.arange(1, 13), 80), 1)
    assert method == "per-month"
    v = values[:, 0]
    month = np.tile(np.arange(1, 13), 80)
    for m in (1, 7):
        rows = month == m
        q = np.mean(totals[rows] == 0)
        # a dry month: H = q, SPI = Phi^-1(q) (McKee et al. 1993; WMO-No. 1090)
        np.testing.assert_allclose(v[rows & (totals == 0)], stats.norm.ppf(q))
    # wet months: H = q + (1 - q) G(x) is uniform on (q, 1)
    wet = totals > 0
    h = stats.norm.cdf(v[wet])
    q_all = np.mean(~wet)
    assert stats.kstest((h - q_all) / (1 - q_all), "uniform").pvalue > 0.01


def test_spi__planted_dry_spell_is_severe():
    rain = gamma_record(40)
    rain["2000-06-01":"2000-08-31"] = 0.0
    spi3 = spi(rain, 3)
    spi1 = spi(rain, 1)
    assert spi3["2000-08-01"] <= -1.5
    assert (spi1["2000-06-01":"2000-08-01"] <= -1.5).all()


def test_spi__short_record_pools_months_and_still_sees_drought():
    rain = gamma_record(40)["1996-01-01":"1999-12-31"].copy()
    rain["1999-06-01":"1999-08-31"] = 0.0
    spi3 = spi(rain, 3)
    assert spi3.attrs["spi_method"] == "pooled"
    assert spi3["1999-08-01"] <= -1.5


def test_spi__under_two_years_is_nan():
    out = spi(gamma_record(1), 1)
    assert out.attrs["spi_method"] == "none" and out.isna().all()


def test_spi__incomplete_month_is_nan():
    rain = gamma_record(30)[:-10]  # the last month is cut short
    assert np.isnan(spi(rain, 1).iloc[-1])


def test_indices__kelvin_and_kg_m2_s1_give_the_same_as_degc_and_mm_day():
    rng = np.random.default_rng(11)
    time = pd.date_range("2020-01-01", "2023-12-31", freq="D")
    shape = (len(time), 2)
    coords = {"time": time, "station": ["a", "b"]}
    doy = time.day_of_year.to_numpy()[:, None]
    tmin_c = xr.DataArray(-5 + 20 * np.sin(2 * np.pi * (doy - 100) / 365) + rng.normal(0, 3, shape),
                          dims=("time", "station"), coords=coords, attrs={"units": "degC"})
    tmax_c = (tmin_c + rng.uniform(5, 14, shape)).assign_attrs(units="degC")
    pr_mm = xr.DataArray(np.where(rng.random(shape) < 0.3, rng.gamma(0.8, 7, shape), 0.0),
                         dims=("time", "station"), coords=coords, attrs={"units": "mm/day"})
    et0_mm = xr.DataArray(rng.uniform(0.5, 6, shape), dims=("time", "station"), coords=coords,
                          attrs={"units": "mm/day"})
    tmin_k = (tmin_c + 273.15).assign_attrs(units="K")
    tmax_k = (tmax_c + 273.15).assign_attrs(units="K")
    pr_si = (pr_mm / 86400).assign_attrs(units="kg m-2 s-1")
    et0_si = (et0_mm / 86400).assign_attrs(units="kg m-2 s-1")
    season = slice("2023-05-01", "2023-09-30")

    def all_indices(tmin, tmax, pr, et0):
        s = {"time": season}
        return {
            "gdd": growing_degree_days(tmin.sel(s), tmax.sel(s), 10, 30),
            "heat": heat_stress_days(tmax.sel(s), 25),
            "frost": frost_days(tmin.sel(s)),
            "dry": longest_dry_spell(pr.sel(s)),
            "cwb": climatic_water_balance(pr.sel(s), et0.sel(s)),
            "spi1": spi(pr, 1),
            "spi3": spi(pr, 3),
        }

    metric = all_indices(tmin_c, tmax_c, pr_mm, et0_mm)
    si = all_indices(tmin_k, tmax_k, pr_si, et0_si)
    for name, value in metric.items():
        xr.testing.assert_allclose(value, si[name], rtol=1e-9, atol=1e-9)
    assert metric["gdd"].attrs["units"] == "degC day"
    assert metric["gdd"].dims == ("station",)


def test_indices__unknown_units_refused():
    with pytest.raises(Exception, match="units 'furlong'"):
        frost_days(daily([1, 2], units="furlong"))
