"""Synthetic sample region tables: weather validity, default calibration, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agririsk.sample import _finance, _weather, make_sample_region

TABLES = [
    "region.toml",
    "farmers.csv",
    "loans.csv",
    "weather/stations.csv",
    "weather/daily.csv",
    "imagery/catalog.json",
    "truth/parcels.csv",
    "truth/parcel_seasons.csv",
    "truth/farmers.csv",
    "truth/defaults.csv",
    "truth/scenes.csv",
]


@pytest.fixture(scope="module")
def weather():
    rng = np.random.default_rng(5)
    stations = _weather.make_stations(rng, 46.65, 126.95)
    daily = _weather.simulate_weather(rng, stations, "2023-01-01", "2026-11-15")
    return stations, daily


def test_simulate_weather__suihua_climate(weather):
    _, daily = weather
    d = daily.assign(date=pd.to_datetime(daily["date"]))
    monthly = d.groupby(d["date"].dt.month)[["tmin_c", "tmax_c"]].mean().mean(axis=1)
    assert -24 < monthly[1] < -16
    assert 20 < monthly[7] < 26
    annual = (
        d[d["date"].dt.year < 2026].groupby(["station_id", d["date"].dt.year])["precip_mm"].sum()
    )
    assert 300 < annual.mean() < 700


def test_simulate_weather__2024_july_august_drought(weather):
    _, daily = weather
    d = daily.assign(date=pd.to_datetime(daily["date"]))
    ja = d[d["date"].dt.month.isin([7, 8])].groupby(d["date"].dt.year)["precip_mm"].sum()
    assert ja[2024] < 0.6 * ja[[2023, 2025]].mean()


def test_simulate_weather__lapse_rate_makes_high_station_colder(weather):
    stations, daily = weather
    mean_t = daily.groupby("station_id")[["tmin_c", "tmax_c"]].mean().mean(axis=1)
    hi = stations.loc[stations["elevation_m"].idxmax(), "station_id"]
    lo = stations.loc[stations["elevation_m"].idxmin(), "station_id"]
    assert mean_t[hi] < mean_t[lo]


def test_add_data_problems__keeps_the_file_valid(weather):
    _, daily = weather
    bad = _weather.add_data_problems(np.random.default_rng(0), daily)
    assert (bad["tmin_c"] <= bad["tmax_c"]).all()
    assert (bad["precip_mm"] >= 0).all()
    assert not bad.duplicated(["station_id", "date"]).any()
    assert len(bad) < len(daily)  # a gap


def test_simulate_loans__calibrated_to_target_rate():
    rng = np.random.default_rng(0)
    n = 2000
    farmers = _finance.make_farmers(rng, int(n * 2.5), rng.random(int(n * 2.5)) < 0.1).table
    nf = len(farmers)
    rows = []
    for y in (2023, 2024, 2025, 2026):
        exp = rng.uniform(5e4, 3e5, nf)
        rows.append(
            pd.DataFrame(
                {
                    "season": y,
                    "farmer": np.arange(nf),
                    "expected_revenue": exp,
                    "revenue": exp * np.clip(rng.normal(0.9, 0.2, nf), 0, 1.3),
                    "cost_declared": exp * 0.5,
                }
            )
        )
    loans, _ = _finance.simulate_loans(rng, farmers, pd.concat(rows), [2023, 2024, 2025], 2026)
    assert loans["defaulted"].mean() == pytest.approx(_finance.TARGET_DEFAULT_RATE, abs=0.003)
    assert 0.08 < loans["oracle_pd"].mean() < 0.12
    assert loans["oracle_pd"].between(0, 1).all()


def test_preseason_pd__mean_over_draws_and_fallback():
    burden, prior, skill = np.array([0.8, 0.8]), np.zeros(2), np.zeros(2)
    flags = np.zeros(2)
    draws = np.array([[0.0, np.nan], [0.5, np.nan]])  # farmer 1 has no draw at all
    p = _finance.preseason_pd(-3.0, draws, burden, prior, skill, flags, flags, flags)
    known = _finance.default_logit(-3.0, np.zeros(2), burden, prior, skill, flags, flags, flags)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    expected0 = (sig(known[0]) + sig(known[0] + _finance.COEF["shortfall"] * 0.5)) / 2
    assert p[0] == pytest.approx(expected0)
    assert p[1] == pytest.approx(sig(known[1]))  # no shortfall expected
    # Jensen: averaging over the shortfall is not the pd of the average shortfall
    assert p[0] != pytest.approx(sig(known[0] + _finance.COEF["shortfall"] * 0.25))


def test_simulate_loans__preseason_oracle_does_not_change_the_draws():
    rng = np.random.default_rng(3)
    farmers = _finance.make_farmers(rng, 600, rng.random(600) < 0.1).table
    nf = len(farmers)
    rows = []
    for y in (2023, 2024, 2025, 2026):
        exp = rng.uniform(5e4, 3e5, nf)
        rows.append(pd.DataFrame({"season": y, "farmer": np.arange(nf), "expected_revenue": exp,
                                  "revenue": exp * np.clip(rng.normal(0.9, 0.2, nf), 0, 1.3),
                                  "cost_declared": exp * 0.5}))
    fs = pd.concat(rows)
    draws = {y: np.clip(rng.normal(0.1, 0.15, (12, nf)), 0, 1) for y in (2023, 2024, 2025, 2026)}
    a, _ = _finance.simulate_loans(np.random.default_rng(9), farmers, fs, [2023, 2024, 2025], 2026)
    b, _ = _finance.simulate_loans(np.random.default_rng(9), farmers, fs, [2023, 2024, 2025], 2026, draws)
    pd.testing.assert_frame_equal(a.drop(columns="oracle_pd_preseason"), b.drop(columns="oracle_pd_preseason"))
    assert b["oracle_pd_preseason"].between(0, 1).all()
    assert not np.allclose(a["oracle_pd_preseason"], b["oracle_pd_preseason"])


def test_make_sample_region__same_seed_same_bytes(tmp_path):
    a = make_sample_region(tmp_path / "a", seed=11, n_parcels=12, size=64).parent
    b = make_sample_region(tmp_path / "b", seed=11, n_parcels=12, size=64).parent
    c = make_sample_region(tmp_path / "c", seed=12, n_parcels=12, size=64).parent
    for name in TABLES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "farmers.csv").read_bytes() != (c / "farmers.csv").read_bytes()
    item = sorted(p for p in (a / "imagery").iterdir() if p.is_dir())[5].name
    assert (a / "imagery" / item / "red.tif").read_bytes() == (
        b / "imagery" / item / "red.tif"
    ).read_bytes()
