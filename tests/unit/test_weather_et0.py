"""ET0: FAO-56 Penman-Monteith against the worked examples of FAO-56, Hargreaves, data forms and units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from agririsk.weather.et0 import (
    daylight_hours,
    extraterrestrial_radiation,
    hargreaves,
    penman_monteith,
    saturation_vapour_pressure,
    solar_from_sunshine,
    wind_at_2m,
)


def one_day(day: str, value: float) -> pd.Series:
    return pd.Series([float(value)], index=pd.DatetimeIndex([day]))


# FAO-56 Example 18 (Uccle, Brussels, 6 July): lat 50°48'N, elevation 100 m, Tmax 21.5,
# Tmin 12.3 degC, RHmax 84 %, RHmin 63 %, wind 10 km/h at 10 m, sunshine n = 9.25 h.
UCCLE_LAT = 50 + 48 / 60
UCCLE_DOY = 187


def uccle_inputs() -> dict[str, pd.Series | float]:
    day = "2023-07-06"  # J = 187 as in the example
    rs = solar_from_sunshine(9.25, UCCLE_DOY, UCCLE_LAT)  # Angstrom, FAO-56 eq. 35: 22.07 MJ m-2 day-1
    u2 = wind_at_2m(10 / 3.6, 10.0)  # FAO-56 eq. 47: 2.078 m/s
    # FAO-56 eq. 17: ea from RHmax and RHmin = 1.409 kPa
    ea = (saturation_vapour_pressure(12.3) * 84 / 100 + saturation_vapour_pressure(21.5) * 63 / 100) / 2
    return {"tmin_c": one_day(day, 12.3), "tmax_c": one_day(day, 21.5), "solar_mj_m2": one_day(day, rs),
            "wind_ms": one_day(day, u2), "ea_kpa": one_day(day, ea)}


def test_penman_monteith__fao56_example_18_uccle():
    x = uccle_inputs()
    # intermediate figures printed in Example 18
    assert extraterrestrial_radiation(UCCLE_DOY, UCCLE_LAT) == pytest.approx(41.09, abs=0.01)
    assert daylight_hours(UCCLE_DOY, UCCLE_LAT) == pytest.approx(16.1, abs=0.05)
    assert float(x["solar_mj_m2"].iloc[0]) == pytest.approx(22.07, abs=0.01)
    assert float(x["wind_ms"].iloc[0]) == pytest.approx(2.078, abs=0.001)
    assert float(x["ea_kpa"].iloc[0]) == pytest.approx(1.409, abs=0.001)
    et0 = penman_monteith(x["tmin_c"], x["tmax_c"], x["solar_mj_m2"], x["wind_ms"], UCCLE_LAT, 100.0,
                          ea_kpa=x["ea_kpa"])
    assert round(float(et0.iloc[0]), 1) == 3.9  # FAO-56 Example 18: ET0 = 3.9 mm/day
    assert et0.attrs["units"] == "mm/day"


def test_penman_monteith__fao56_example_17_bangkok_monthly():
    # FAO-56 Example 17 (Bangkok, April, monthly means): lat 13°44'N, elevation 2 m,
    # Tmax 34.8, Tmin 25.6 degC, ea 2.85 kPa, u2 2 m/s, n 8.5 h/day,
    # G = 0.14 (T_april - T_march) = 0.14 (30.2 - 29.2) (FAO-56 eq. 43); J = 105 (15 April).
    lat = 13 + 44 / 60
    day = "2023-04-15"
    rs = solar_from_sunshine(8.5, 105, lat)  # Angstrom: 22.65 MJ m-2 day-1 (Ra 38.06, N 12.31)
    assert float(rs) == pytest.approx(22.65, abs=0.01)
    et0 = penman_monteith(one_day(day, 25.6), one_day(day, 34.8), one_day(day, rs), one_day(day, 2.0), lat, 2.0,
                          ea_kpa=one_day(day, 2.85), soil_heat_flux_mj_m2=0.14 * (30.2 - 29.2))
    assert round(float(et0.iloc[0]), 2) == 5.72  # FAO-56 Example 17: ET0 = 5.72 mm/day


def test_penman_monteith__rh_mean_gives_ea_eq19():
    x = uccle_inputs()
    es = (saturation_vapour_pressure(12.3) + saturation_vapour_pressure(21.5)) / 2
    rh = float(x["ea_kpa"].iloc[0]) / es * 100
    by_rh = penman_monteith(x["tmin_c"], x["tmax_c"], x["solar_mj_m2"], x["wind_ms"], UCCLE_LAT, 100.0,
                            rh_mean_pct=x["tmin_c"] * 0 + rh)
    by_ea = penman_monteith(x["tmin_c"], x["tmax_c"], x["solar_mj_m2"], x["wind_ms"], UCCLE_LAT, 100.0,
                            ea_kpa=x["ea_kpa"])
    assert float(by_rh.iloc[0]) == pytest.approx(float(by_ea.iloc[0]), rel=1e-9)


def test_penman_monteith__missing_humidity_and_radiation_follow_fao56_rules():
    x = uccle_inputs()
    # no humidity: ea = e°(Tmin) (FAO-56 eq. 48); no radiation: Rs = 0.16 sqrt(Tmax - Tmin) Ra (eq. 50)
    explicit = penman_monteith(x["tmin_c"], x["tmax_c"],
                               x["tmin_c"] * 0 + 0.16 * np.sqrt(21.5 - 12.3) * 41.09, x["wind_ms"], UCCLE_LAT, 100.0,
                               ea_kpa=x["tmin_c"] * 0 + float(saturation_vapour_pressure(12.3)))
    missing = penman_monteith(x["tmin_c"], x["tmax_c"], None, x["wind_ms"], UCCLE_LAT, 100.0)
    assert float(missing.iloc[0]) == pytest.approx(float(explicit.iloc[0]), abs=0.005)
    nan_inputs = penman_monteith(x["tmin_c"], x["tmax_c"], x["tmin_c"] * np.nan, x["wind_ms"], UCCLE_LAT, 100.0,
                                 rh_mean_pct=x["tmin_c"] * np.nan)
    assert float(nan_inputs.iloc[0]) == pytest.approx(float(missing.iloc[0]))


def test_hargreaves__within_documented_behaviour():
    # FAO-56 eq. 52 by hand for Example 18's day: 0.0023 (16.9 + 17.8) sqrt(9.2) 0.408 Ra
    x = uccle_inputs()
    et0 = hargreaves(x["tmin_c"], x["tmax_c"], UCCLE_LAT)
    by_hand = 0.0023 * (16.9 + 17.8) * np.sqrt(9.2) * 0.408 * 41.088
    assert float(et0.iloc[0]) == pytest.approx(by_hand, rel=1e-3)
    # FAO-56 ch. 3: Hargreaves agrees with Penman-Monteith within about 10-15 % (here 4.06 vs 3.88)
    pm = penman_monteith(x["tmin_c"], x["tmax_c"], x["solar_mj_m2"], x["wind_ms"], UCCLE_LAT, 100.0,
                         ea_kpa=x["ea_kpa"])
    assert abs(float(et0.iloc[0]) / float(pm.iloc[0]) - 1) < 0.15
    # more temperature range (drier, sunnier air) never lowers it
    assert float(hargreaves(x["tmin_c"] - 3, x["tmax_c"], UCCLE_LAT).iloc[0]) > float(et0.iloc[0]) * 0.99


def test_penman_monteith__dataarray_in_kelvin_matches_series_in_celsius():
    time = pd.date_range("2024-06-01", periods=5)
    lat = xr.DataArray([46.0, 47.5], dims="lat", coords={"lat": [46.0, 47.5]})
    tmin = xr.DataArray(np.full((5, 2), 14.0), dims=("time", "lat"), coords={"time": time, "lat": lat})
    tmax = tmin + 12.0
    tmin_k = (tmin + 273.15).assign_attrs(units="K")
    tmax_k = (tmax + 273.15).assign_attrs(units="K")
    grid = penman_monteith(tmin_k, tmax_k, None, None, lat, 150.0)
    assert grid.dims == ("time", "lat") and grid.attrs["units"] == "mm/day"
    for j, la in enumerate([46.0, 47.5]):
        s = penman_monteith(tmin.to_series().xs(la, level="lat"), tmax.to_series().xs(la, level="lat"),
                            None, None, la, 150.0)
        np.testing.assert_allclose(grid.isel(lat=j).to_numpy(), s.to_numpy())
    h = hargreaves(tmin_k, tmax_k, lat)
    assert h.dims == ("time", "lat") and (h > 0).all()


def test_penman_monteith__refuses_plain_lists():
    with pytest.raises(TypeError, match="DatetimeIndex"):
        penman_monteith(pd.Series([1.0]), pd.Series([2.0]), None, None, 45, 0)
