"""Weather readers: station tables, daily QC grouped per station, CF-netCDF grids with units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from agririsk.errors import InputError, MissingColumnError, MissingFileError
from agririsk.inputs import Report
from agririsk.weather import read_station_daily, read_stations, read_weather_grid

DAILY = "station_id,date,tmin_c,tmax_c,precip_mm\n"


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def days(
    start: str, n: int, station: str = "S1", tmin: float = 10, tmax: float = 20, rain: float = 0
) -> str:
    dates = pd.date_range(start, periods=n, freq="D")
    return "".join(f"{station},{d:%Y-%m-%d},{tmin},{tmax},{rain}\n" for d in dates)


def test_read_stations__checks_rows(tmp_path):
    text = (
        "station_id,lat,lon,elevation_m\nS1,46.6,126.9,180\nS2,95,126.9,180\nS3,46.6,126.9,99999\n"
        "S1,46.6,126.9,180\n"
    )
    report = Report()
    stations = read_stations(write(tmp_path, "stations.csv", text), report)
    assert stations["station_id"].tolist() == ["S1", "S3"]
    assert np.isnan(stations.loc[1, "elevation_m"])
    wheres = {p.where for p in report.problems}
    assert {
        "row 3, station S2",
        "row 4, station S3",
        "row 2, station S1",
        "row 5, station S1",
    } == wheres


def test_read_stations__missing_column(tmp_path):
    with pytest.raises(MissingColumnError, match="lon missing"):
        read_stations(write(tmp_path, "stations.csv", "station_id,lat\nS1,46\n"), Report())


def test_read_station_daily__clean_file(tmp_path):
    report = Report()
    daily = read_station_daily(write(tmp_path, "daily.csv", DAILY + days("2026-05-01", 3)), report)
    assert daily.columns.tolist() == ["station_id", "date", "tmin_c", "tmax_c", "precip_mm"]
    assert daily["date"].tolist() == list(pd.date_range("2026-05-01", periods=3))
    assert daily.attrs["units"]["precip_mm"] == "mm/day"
    assert report.problems == []


def test_read_station_daily__qc_in_one_pass(tmp_path):
    text = (
        DAILY
        + days("2026-05-01", 3)
        + "S1,2026-05-02,11,21,0\n"  # duplicate date: the first kept
        + "S1,2026-05-06,25,15,0\n"  # tmin > tmax; 05-04..05-05 missing
        + "S1,2026-05-07,10,20,-3\n"  # negative rain
        + "S1,2026-05-08,10,75,600\n"  # tmax and rain beyond physical limits
        + "S9,2026-05-01,10,20,0\n"
    )  # unknown station
    report = Report()
    daily = read_station_daily(write(tmp_path, "daily.csv", text), report, station_ids=["S1"])
    assert len(daily) == 6 and set(daily["station_id"]) == {"S1"}
    row = daily.set_index("date")
    assert row.loc["2026-05-02", "tmin_c"] == 10
    assert np.isnan(row.loc["2026-05-06", "tmin_c"]) and np.isnan(row.loc["2026-05-06", "tmax_c"])
    assert np.isnan(row.loc["2026-05-07", "precip_mm"])
    assert np.isnan(row.loc["2026-05-08", "tmax_c"]) and np.isnan(
        row.loc["2026-05-08", "precip_mm"]
    )
    assert row.loc["2026-05-08", "tmin_c"] == 10
    text = {(p.where, p.what) for p in report.problems}
    assert (
        "station S1",
        "duplicate date (the first row is kept, the others skipped): 1 day(s): 2026-05-02",
    ) in text
    assert (
        "station S1",
        "tmin_c greater than tmax_c (both set missing): 1 day(s): 2026-05-06",
    ) in text
    assert ("station S1", "negative rain (set missing): 1 day(s): 2026-05-07") in text
    assert (
        "station S1",
        "tmax_c outside the physical limits [-70, 60] (set missing): 1 day(s): 2026-05-08",
    ) in text
    assert (
        "station S1",
        "precip_mm outside the physical limits [0, 500] (set missing): 1 day(s): 2026-05-08",
    ) in text
    assert (
        "station S1",
        "gap: 2 missing day(s) in 1 gap(s) between 2026-05-01 and 2026-05-08: "
        "2026-05-04..2026-05-05",
    ) in text
    assert ("station S9", "station not in the station table: 1 row(s) skipped") in text


def test_read_station_daily__many_bad_rows_give_one_line_per_station_and_kind(tmp_path):
    text = (
        DAILY
        + days("2000-01-01", 10_000, tmin=30, tmax=20)
        + days("2000-01-01", 10_000, "S2", rain=-1)
    )
    report = Report()
    read_station_daily(write(tmp_path, "daily.csv", text), report)
    # S1: tmin > tmax; S2: negative rain, and temperatures frozen at one value (stuck sensor)
    assert len(report.problems) == 4
    assert sum("stuck sensor" in p.what and p.where == "station S2" for p in report.problems) == 2
    assert report.problems[0].what.startswith(
        "tmin_c greater than tmax_c (both set missing): 10000 day(s): "
        "2000-01-01, 2000-01-02, 2000-01-03, 2000-01-04, 2000-01-05, ..."
    )


def test_read_station_daily__bad_dates_and_values(tmp_path):
    text = DAILY + "S1,2026-13-01,10,20,0\nS1,2026-05-01,ten,20,0\n"
    report = Report()
    daily = read_station_daily(write(tmp_path, "daily.csv", text), report)
    assert len(daily) == 1 and np.isnan(daily.loc[0, "tmin_c"])
    found = {(p.where, p.what.split(";")[0].split(":")[0]) for p in report.problems}
    assert found == {
        ("row 2", "date is missing or not YYYY-MM-DD"),
        ("station S1", "tmin_c is not a number (set missing)"),
    }


def test_read_station_daily__missing_file_and_column(tmp_path):
    with pytest.raises(MissingFileError, match="daily weather table not found"):
        read_station_daily(tmp_path / "nope.csv", Report())
    with pytest.raises(MissingColumnError, match="precip_mm missing"):
        read_station_daily(write(tmp_path, "d.csv", "station_id,date,tmin_c,tmax_c\n"), Report())


def grid(tmp_path, *, tas_units="K", pr_units="kg m-2 s-1", **extra) -> str:
    time = pd.date_range("2026-05-01", periods=4, freq="D")
    shape = (4, 2, 2)
    ds = xr.Dataset(
        {
            "tasmin": (("time", "lat", "lon"), np.full(shape, 283.15), {"units": tas_units}),
            "tasmax": (("time", "lat", "lon"), np.full(shape, 293.15), {"units": tas_units}),
            "pr": (("time", "lat", "lon"), np.full(shape, 1e-4), {"units": pr_units}),
            **extra,
        },
        coords={"time": time, "lat": [46.0, 46.1], "lon": [126.0, 126.1]},
    )
    path = tmp_path / "grid.nc"
    ds.to_netcdf(path)
    return path


def test_read_weather_grid__converts_units(tmp_path):
    rsds = (("time", "lat", "lon"), np.full((4, 2, 2), 200.0), {"units": "W m-2"})
    report = Report()
    ds = read_weather_grid(grid(tmp_path, rsds=rsds), report)
    assert float(ds["tasmin"][0, 0, 0]) == pytest.approx(10.0)
    assert ds["tasmax"].attrs["units"] == "degC"
    assert float(ds["pr"][0, 0, 0]) == pytest.approx(8.64)  # 1e-4 kg m-2 s-1 * 86400 s
    assert float(ds["rsds"][0, 0, 0]) == pytest.approx(17.28)  # 200 W m-2 * 0.0864
    assert report.problems == []


def test_read_weather_grid__qc_and_bad_units(tmp_path):
    path = grid(tmp_path)
    ds = xr.load_dataset(path)
    ds["tasmin"][1, 0, 0] = 300.0  # above tasmax
    ds["pr"][2, 1, 1] = -1e-4
    ds = ds.drop_sel(time=[np.datetime64("2026-05-03")])
    ds.to_netcdf(tmp_path / "qc.nc")
    report = Report()
    out = read_weather_grid(tmp_path / "qc.nc", report)
    assert np.isnan(float(out["tasmin"][1, 0, 0])) and np.isnan(float(out["tasmax"][1, 0, 0]))
    whats = [p.what for p in report.problems]
    assert any(w.startswith("gap: 1 missing day(s)") for w in whats)
    assert "tasmin greater than tasmax (both set missing): 1 value(s), first on 2026-05-02" in whats
    with pytest.raises(InputError, match="units 'furlongs'"):
        read_weather_grid(grid(tmp_path, tas_units="furlongs"), Report())


def test_read_weather_grid__missing_variable(tmp_path):
    path = tmp_path / "g.nc"
    xr.Dataset(
        {"tasmin": (("time",), [1.0], {"units": "degC"})},
        coords={"time": pd.date_range("2026-01-01", periods=1)},
    ).to_netcdf(path)
    with pytest.raises(MissingColumnError, match="tasmax, pr missing"):
        read_weather_grid(path, Report())


def test_read_weather_grid__unreadable_file(tmp_path):
    path = write(tmp_path, "g.nc", "not netcdf")
    with pytest.raises(InputError, match="cannot be read as netCDF"):
        read_weather_grid(path, Report())
    with pytest.raises(MissingFileError, match="weather grid not found"):
        read_weather_grid(tmp_path / "nope.nc", Report())
