"""Which weather serves each parcel: nearest station with lapse rate, IDW, grid cell."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from shapely.geometry import box

from agririsk.errors import InputError
from agririsk.region import Season
from agririsk.weather.assign import assign_grid, assign_stations
from agririsk.weather.exposure import SourceWeather, exposure_from_weather

STATIONS = pd.DataFrame({"station_id": ["LOW", "HIGH"], "lat": [46.60, 46.70], "lon": [126.90, 126.90],
                         "elevation_m": [100.0, 500.0]})


def parcels(*centres: tuple[float, float], crop: str = "maize") -> gpd.GeoDataFrame:
    geoms = [box(lon - 0.001, lat - 0.001, lon + 0.001, lat + 0.001) for lat, lon in centres]
    return gpd.GeoDataFrame({"parcel_id": [f"P{i}" for i in range(len(geoms))], "farmer_id": "F1",
                             "declared_crop": crop}, geometry=geoms, crs=4326)


def test_assign_stations__nearest_with_lapse_rate_to_mean_station_elevation():
    a = assign_stations(parcels((46.61, 126.90), (46.69, 126.90)), STATIONS)
    t = a.table
    assert t["source_id"].tolist() == ["LOW", "HIGH"]
    assert t["distance_km"].iloc[0] == pytest.approx(1.11, abs=0.02)  # 0.01 degree of latitude
    # parcel elevation unknown: the mean station elevation, 300 m, is assumed
    assert t["elevation_m"].tolist() == [300.0, 300.0]
    # -6.5 degC/km: 200 m above LOW is 1.3 degC colder, 200 m below HIGH 1.3 degC warmer
    assert t["temp_offset_c"].tolist() == pytest.approx([-1.3, 1.3])
    temps = np.array([[20.0, 17.4]])  # (day, station)
    assert a.apply(temps, temperature=True)[0] == pytest.approx([18.7, 18.7])


def test_assign_stations__idw_weights_and_missing_station_drops_out():
    a = assign_stations(parcels((46.625, 126.90)), STATIONS, method="idw",
                        parcel_elevation_m=pd.Series({"P0": 100.0}))
    w = dict(zip(STATIONS["station_id"].to_numpy()[a.index[0]], a.weight[0], strict=True))
    assert w["LOW"] == pytest.approx(0.9, abs=0.01)  # distances 1:3 -> weights 9:1
    rain = np.array([[10.0, 0.0], [np.nan, 5.0]])
    out = a.apply(rain)
    assert out[0, 0] == pytest.approx(9.0, abs=0.1)
    assert out[1, 0] == 5.0
    assert a.table["source"].iloc[0] == "idw" and a.table["source_id"].iloc[0] == "LOW+HIGH"


def test_assign_grid__cell_holding_the_centroid():
    grid = xr.Dataset(coords={"lat": [46.5, 46.75, 47.0], "lon": [126.75, 127.0]})
    a = assign_grid(parcels((46.8, 127.05), (46.52, 126.7)), grid)
    assert a.table["source_id"].tolist() == ["46.7500,127.0000", "46.5000,126.7500"]
    assert a.index[:, 0].tolist() == [1 * 2 + 1, 0]
    with pytest.raises(InputError, match="outside the weather grid"):
        assign_grid(parcels((50.0, 127.0)), grid)
    with pytest.raises(InputError, match="lat/lon"):
        assign_grid(parcels((46.8, 127.0)), xr.Dataset(coords={"x": [0.0], "y": [0.0]}))


def toy_weather(rain_mm: float, start="2021-01-01", end="2024-12-31") -> SourceWeather:
    dates = pd.date_range(start, end)
    n = len(dates)
    doy = dates.day_of_year.to_numpy()
    t = 5 + 18 * np.sin(2 * np.pi * (doy - 110) / 365)
    rng = np.random.default_rng(2)
    rain = np.where(rng.random((n, 2)) < 0.3, rng.gamma(0.7, rain_mm / 0.21, (n, 2)), 0.0)
    data = {"tmin_c": np.stack([t - 6, t - 7], axis=1), "tmax_c": np.stack([t + 6, t + 5], axis=1),
            "precip_mm": rain}
    return SourceWeather("stations", STATIONS.rename(columns={"station_id": "source_id"}), dates, data)


def test_exposure_from_weather__never_uses_weather_after_as_of():
    p = parcels((46.61, 126.90), (46.69, 126.90))
    a = assign_stations(p, STATIONS)
    seasons = [Season(dt.date(2023, 4, 15), dt.date(2023, 10, 15)), Season(dt.date(2024, 4, 15), dt.date(2024, 10, 15))]
    as_of = dt.date(2024, 7, 1)
    full = toy_weather(3.0)
    # the same record with nonsense after as_of must give the same answer
    spoiled = toy_weather(3.0)
    after = spoiled.dates > pd.Timestamp(as_of)
    for v in spoiled.data.values():
        v[after] = 999.0 if v is not spoiled.data["precip_mm"] else 0.0
    x = exposure_from_weather(full, a, p, seasons=seasons, as_of=as_of)
    y = exposure_from_weather(spoiled, a, p, seasons=seasons, as_of=as_of)
    pd.testing.assert_frame_equal(x, y)
    current = x[x["season"] == 2024]
    assert not current["complete"].any() and x[x["season"] == 2023]["complete"].all()
    assert current["relative_yield"].notna().all()  # the current season to date


def test_exposure_from_weather__long_gap_flags_the_parcel_season():
    p = parcels((46.61, 126.90), (46.69, 126.90))
    w = toy_weather(3.0)
    gap = (w.dates >= "2023-06-01") & (w.dates <= "2023-06-10")
    w.data["precip_mm"][gap, 0] = np.nan  # station LOW only
    x = exposure_from_weather(w, assign_stations(p, STATIONS), p,
                              seasons=[Season(dt.date(2023, 4, 15), dt.date(2023, 10, 15))], as_of=dt.date(2024, 1, 1))
    low, high = x.iloc[0], x.iloc[1]
    assert low["weather_gap"] and low["gap_days"] == 10 and np.isnan(low["relative_yield"])
    assert not high["weather_gap"] and high["relative_yield"] > 0
