"""weather_exposure end to end on a CF grid: units honoured, grid cells serve parcels."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr
from shapely.geometry import box

from agririsk.inputs import Report
from agririsk.region import Region, Season
from agririsk.weather.exposure import weather_exposure

SEASONS = [Season(dt.date(2022, 4, 15), dt.date(2022, 10, 15)), Season(dt.date(2023, 4, 15), dt.date(2023, 10, 15))]


def grid(si_units: bool) -> xr.Dataset:
    rng = np.random.default_rng(4)
    time = pd.date_range("2020-01-01", "2023-12-31")
    shape = (len(time), 2, 2)
    doy = time.day_of_year.to_numpy()[:, None, None]
    tmin = 2 + 18 * np.sin(2 * np.pi * (doy - 110) / 365) + rng.normal(0, 2, shape)
    tmax = tmin + rng.uniform(6, 13, shape)
    pr = np.where(rng.random(shape) < 0.3, rng.gamma(0.7, 8, shape), 0.0)
    rsds = rng.uniform(80, 300, shape)  # W m-2
    coords = {"time": time, "lat": [46.5, 46.75], "lon": [126.75, 127.0]}
    dims = ("time", "lat", "lon")
    if si_units:
        data = {"tasmin": (tmin + 273.15, "K"), "tasmax": (tmax + 273.15, "K"), "pr": (pr / 86400, "kg m-2 s-1")}
    else:
        data = {"tasmin": (tmin, "degC"), "tasmax": (tmax, "degC"), "pr": (pr, "mm/day")}
    data["rsds"] = (rsds, "W m-2")
    return xr.Dataset({k: xr.DataArray(v, dims=dims, coords=coords, attrs={"units": u}) for k, (v, u) in data.items()})


def region_with_grid(path: Path) -> Region:
    return Region(path=path.parent / "region.toml", name="grid test", crs=None, imagery_catalog="none",
                  imagery_collection=None, parcels_path=path, farmers_path=path, weather_stations=None,
                  weather_observations=None, weather_grid=path, history_path=None, season=SEASONS[-1])


def parcels() -> gpd.GeoDataFrame:
    centres = [(46.52, 126.78), (46.74, 126.99), (46.70, 126.80)]
    return gpd.GeoDataFrame({"parcel_id": ["A", "B", "C"], "farmer_id": ["F1", "F1", "F2"],
                             "declared_crop": ["maize", "soybean", "wheat"]},
                            geometry=[box(lo - 0.002, la - 0.002, lo + 0.002, la + 0.002) for la, lo in centres],
                            crs=4326)


def test_weather_exposure__grid_in_kelvin_and_si_rain_equals_degc_and_mm_day(tmp_path):
    out = {}
    for si in (False, True):
        path = tmp_path / f"grid_{si}.nc"
        grid(si).to_netcdf(path)
        out[si] = weather_exposure(region_with_grid(path), parcels(), Report(), seasons=SEASONS,
                                   as_of=dt.date(2024, 1, 1))
    pd.testing.assert_frame_equal(out[False], out[True], check_exact=False, rtol=1e-6)
    x = out[False]
    assert x["source"].eq("grid").all()
    assert x.loc[x["parcel_id"] == "A", "source_id"].iloc[0] == "46.5000,126.7500"
    assert x.loc[x["parcel_id"] == "C", "source_id"].iloc[0] == "46.7500,126.7500"
    assert x["et0_method"].str.startswith("penman-monteith").all()  # radiation given, humidity and wind by FAO-56 rules
    assert x["relative_yield"].between(0, 1).all() and x["gdd"].gt(500).all()


def test_weather_exposure__grid_after_as_of_is_not_used(tmp_path):
    path = tmp_path / "grid.nc"
    g = grid(False)
    g.to_netcdf(path)
    as_of = dt.date(2023, 7, 20)
    before = weather_exposure(region_with_grid(path), parcels(), Report(), seasons=SEASONS, as_of=as_of)
    spoiled = g.copy(deep=True)
    late = spoiled["time"] > np.datetime64(as_of)
    spoiled["pr"] = spoiled["pr"].where(~late, 99.0)
    path2 = tmp_path / "spoiled.nc"
    spoiled.to_netcdf(path2)
    after = weather_exposure(region_with_grid(path2), parcels(), Report(), seasons=SEASONS, as_of=as_of)
    pd.testing.assert_frame_equal(before, after)
