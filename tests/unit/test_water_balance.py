"""FAO-56 soil-water balance and FAO-33 yield response."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agririsk.crop_models.crops import crop_params
from agririsk.crop_models.water_balance import crop_arrays, run_season, run_seasons, taw_per_m

SOW = "2024-05-01"


def weather(rain: float | np.ndarray = 0.0, et0: float | np.ndarray = 4.5, days: int = 160) -> pd.DataFrame:
    index = pd.date_range(SOW, periods=days)
    return pd.DataFrame({"tmin_c": 13.0, "tmax_c": 27.0, "precip_mm": rain, "et0_mm": et0}, index=index)


def test_run_season__irrigated_season_has_relative_yield_one():
    result = run_season(weather(rain=0.0), "maize", SOW, irrigated=True)
    assert result.relative_yield == 1.0
    assert result.stress_days == 0
    assert result.eta_mm == pytest.approx(result.etc_mm)
    assert result.irrigation_mm > 300  # the rain-free season was watered
    assert result.complete


def test_run_season__rain_free_season_falls_well_below():
    result = run_season(weather(rain=0.0), "maize", SOW)
    assert result.relative_yield < 0.4
    assert result.stress_days > 60
    assert result.eta_mm < 0.5 * result.etc_mm


def test_run_season__etc_follows_the_fao56_kc_curve():
    # maize (FAO-56 Tables 11-12): L = 30/40/50/30 d, Kc 0.30 / 1.20 / 0.35, ET0 4.5 mm/day:
    # ETc = 4.5 (30*0.30 + 40*(0.30+1.20)/2 + 50*1.20 + 30*(1.20+0.35)/2) = 4.5 * 122.25 = 550.1
    result = run_season(weather(rain=10.0), "maize", SOW)
    assert result.etc_mm == pytest.approx(4.5 * 122.25, rel=0.005)
    kc = result.daily["kc"]
    assert kc.iloc[0] == pytest.approx(0.30) and kc.iloc[80] == pytest.approx(1.20)
    assert len(result.daily) == 150 and result.daily["stage"].iloc[-1] == "late season"


def test_run_season__stress_starts_when_depletion_passes_raw():
    # bare soil dries; Ks = (TAW - Dr) / ((1 - p) TAW) after Dr > RAW (FAO-56 eq. 84)
    d = run_season(weather(rain=0.0), "soybean", SOW).daily
    stressed = d[d["ks"] < 1]
    assert (stressed["depletion_mm"].shift(1).dropna() >= stressed["raw_mm"].iloc[1:] - 1e-6).all()
    first = stressed.index[0]
    before = d.loc[:first].iloc[-2]
    row = d.loc[first]
    p = row["raw_mm"] / row["taw_mm"]
    assert row["ks"] == pytest.approx((row["taw_mm"] - before["depletion_mm"]) / ((1 - p) * row["taw_mm"]))


def test_run_season__fao33_yield_response():
    r = run_season(weather(rain=1.0), "wheat", SOW)
    ky = crop_params("wheat").ky
    assert r.relative_yield == pytest.approx(1 - ky * (1 - r.eta_mm / r.etc_mm))


def test_run_season__observed_stage_dates_override_the_table():
    ends = ["2024-05-21", "2024-06-20", "2024-08-01", "2024-08-31"]
    r = run_season(weather(rain=10.0), "maize", SOW, stage_dates=ends)
    assert r.daily.index[-1] == pd.Timestamp("2024-08-31")
    assert (r.daily.loc["2024-06-21":"2024-08-01", "stage"] == "mid-season").all()


def test_run_season__season_to_date_when_weather_ends_early():
    r = run_season(weather(rain=2.0, days=60), "maize", SOW)
    assert not r.complete and len(r.daily) == 60


def test_run_season__kelvin_and_si_units_honoured():
    base = weather(rain=2.0)
    si = base.copy()
    si["tmin_c"] += 273.15
    si["tmax_c"] += 273.15
    si["precip_mm"] /= 86400
    si.attrs["units"] = {"tmin_c": "K", "tmax_c": "K", "precip_mm": "kg m-2 s-1", "et0_mm": "mm/day"}
    assert run_season(si, "maize", SOW).relative_yield == pytest.approx(run_season(base, "maize", SOW).relative_yield)
    # Hargreaves ET0 from the temperatures when et0_mm is absent
    no_et0 = base.drop(columns="et0_mm")
    si_no = si.drop(columns="et0_mm")
    a = run_season(no_et0, "maize", SOW, latitude_deg=46.6)
    b = run_season(si_no, "maize", SOW, latitude_deg=46.6)
    assert a.etc_mm == pytest.approx(b.etc_mm)


def test_run_season__bad_input_is_named():
    with pytest.raises(ValueError, match="latitude_deg"):
        run_season(weather().drop(columns="et0_mm"), "maize", SOW)
    with pytest.raises(ValueError, match="no weather on the sowing date 2025-05-01"):
        run_season(weather(), "maize", "2025-05-01")
    gappy = weather()
    gappy.iloc[20, gappy.columns.get_loc("precip_mm")] = np.nan
    with pytest.raises(ValueError, match="1 day"):
        run_season(gappy, "maize", SOW)
    with pytest.raises(ValueError, match="unknown soil texture"):
        taw_per_m("moon dust")


def test_run_seasons__matches_run_season_per_field():
    rng = np.random.default_rng(5)
    days = 200
    rain = rng.gamma(0.4, 8.0, (days, 3))
    et0 = rng.uniform(2, 6, (days, 3))
    sow = np.array([0, 10, 25])
    crops = ["maize", "soybean", "wheat"]
    many = run_seasons(et0, rain, sow, crop_arrays(crops), soil_taw_mm_per_m=taw_per_m("sandy loam"))
    index = pd.date_range("2024-04-20", periods=days)
    for j, crop in enumerate(crops):
        w = pd.DataFrame({"tmin_c": 10.0, "tmax_c": 25.0, "precip_mm": rain[:, j], "et0_mm": et0[:, j]}, index=index)
        one = run_season(w, crop, index[sow[j]], soil="sandy loam")
        assert many.relative_yield[j] == pytest.approx(one.relative_yield)
        assert many.stress_days[j] == one.stress_days


@settings(max_examples=60, deadline=None)
@given(
    base=st.lists(st.floats(0, 30), min_size=130, max_size=130),
    extra=st.lists(st.floats(0, 20), min_size=130, max_size=130),
    crop=st.sampled_from(["maize", "soybean", "rice", "wheat", "cotton", "other"]),
    soil=st.sampled_from(["sand", "loam", "clay"]),
)
def test_run_season__more_rain_never_lowers_yield(base, extra, crop, soil):
    et0 = 4.0 + 2.0 * np.sin(np.arange(200) / 20.0)
    rain = np.zeros(200)
    rain[:130] = base
    more = rain.copy()
    more[:130] += extra
    dry = run_season(weather(rain=rain, et0=et0, days=200), crop, SOW, soil=soil)
    wet = run_season(weather(rain=more, et0=et0, days=200), crop, SOW, soil=soil)
    assert wet.relative_yield >= dry.relative_yield - 1e-12
    assert wet.eta_mm >= dry.eta_mm - 1e-9
    assert wet.stress_days <= dry.stress_days
