"""Weather QC: the bad-input report, stuck sensors, short-gap filling counted, long gaps left."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from agririsk.errors import InputError
from agririsk.inputs import Report
from agririsk.weather import read_station_daily, read_weather_grid
from agririsk.weather.qc import fill_short_gaps, stuck_runs

STATIONS = pd.DataFrame({"station_id": ["S1", "S2"], "lat": [46.6, 46.7], "lon": [126.9, 127.0],
                         "elevation_m": [180.0, 200.0]})


def station_csv(tmp_path, rows: list[tuple]) -> str:
    text = "station_id,date,tmin_c,tmax_c,precip_mm,wind_ms\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    path = tmp_path / "daily.csv"
    path.write_text(text)
    return path


def clean_rows(station="S1", start="2026-05-01", n=30, seed=0):
    rng = np.random.default_rng(seed)
    days = pd.date_range(start, periods=n)
    return [(station, f"{d:%Y-%m-%d}", round(10 + rng.normal(0, 2), 1), round(22 + rng.normal(0, 2), 1),
             round(float(rng.gamma(0.5, 4)), 1), round(2 + rng.uniform(0, 1), 2)) for d in days]


def test_read_station_daily__bad_file_names_every_problem(tmp_path):
    rows = clean_rows()
    del rows[10:13]  # a planted 3-day gap: 2026-05-11..2026-05-13
    rows.insert(5, rows[5])  # a duplicate day: 2026-05-06
    rows[20] = (*rows[20][:2], 25.0, 20.0, *rows[20][4:])  # tmin > tmax
    rows[22] = (*rows[22][:4], -3.0, rows[22][5])  # negative rain
    report = Report()
    read_station_daily(station_csv(tmp_path, rows), report)
    text = "\n".join(str(p) for p in report.problems)
    assert "gap: 3 missing day(s)" in text and "2026-05-11..2026-05-13" in text
    assert "duplicate date" in text and "2026-05-06" in text
    assert f"tmin_c greater than tmax_c (both set missing): 1 day(s): {rows[20][1]}" in text
    assert f"negative rain (set missing): 1 day(s): {rows[22][1]}" in text
    assert all(p.where == "station S1" for p in report.problems)


def test_read_station_daily__stuck_sensor_reported_and_set_missing(tmp_path):
    rows = clean_rows()
    for i in range(8, 15):
        rows[i] = (*rows[i][:5], 3.3)  # an anemometer frozen for 7 days
    report = Report()
    daily = read_station_daily(station_csv(tmp_path, rows), report)
    stuck = [p for p in report.problems if "stuck sensor: wind_ms" in p.what]
    assert len(stuck) == 1 and "6 day(s)" in stuck[0].what  # the first day of the run is kept
    assert daily["wind_ms"].isna().sum() == 6


def test_stuck_runs__zero_rain_and_short_repeats_are_not_stuck():
    tmin = [5, 5, 5, 5, 6, 7, 7, 7, 7, 7, 7, 8.0] + list(range(20))
    frame = pd.DataFrame({"station_id": "S1", "date": pd.date_range("2026-05-01", periods=32),
                          "precip_mm": [0.0] * 30 + [1, 2], "tmin_c": tmin})
    assert not stuck_runs(frame, "precip_mm").any()
    assert stuck_runs(frame, "tmin_c").tolist() == [False] * 6 + [True] * 5 + [False] * 21
    # a 12-day record cannot tell a frozen sensor from steady weather
    assert not stuck_runs(frame.iloc[:12], "tmin_c").any()


def test_fill_short_gaps__fills_and_counts_every_value_leaves_long_gaps(tmp_path):
    s1 = pd.DataFrame(clean_rows("S1", n=40), columns=["station_id", "date", "tmin_c", "tmax_c", "precip_mm", "wind_ms"])
    s2 = pd.DataFrame(clean_rows("S2", n=40, seed=1), columns=s1.columns)
    s1["date"], s2["date"] = pd.to_datetime(s1["date"]), pd.to_datetime(s2["date"])
    s1 = s1.drop(index=[5, 6])  # 2-day gap: filled
    s1 = s1.drop(index=range(20, 28))  # 8-day gap: left missing
    s1.loc[30, "tmax_c"] = np.nan  # one missing value in an existing row: filled
    report = Report()
    out = fill_short_gaps(pd.concat([s1, s2], ignore_index=True), STATIONS, report)
    a = out[out["station_id"] == "S1"].set_index("date")
    assert len(a) == 40
    day5, day6 = pd.Timestamp("2026-05-06"), pd.Timestamp("2026-05-07")
    # temperature: linear interpolation between the neighbouring days
    t4, t7 = s1.loc[4, "tmin_c"], s1.loc[7, "tmin_c"]
    assert a.loc[day5, "tmin_c"] == pytest.approx(t4 + (t7 - t4) / 3)
    # rain: the same day at the nearest station
    b = s2.set_index("date")
    assert a.loc[day6, "precip_mm"] == b.loc[day6, "precip_mm"]
    assert a.loc["2026-05-21":"2026-05-28", ["tmin_c", "tmax_c", "precip_mm"]].isna().all().all()
    # 2 days x 4 variables + 1 tmax value
    assert report.counters["weather_filled_values"] == 9
    assert report.counters["weather_unfilled_days"] == 8
    assert a["filled"].sum() == 3
    infos = [p for p in report.problems if p.severity == "info"]
    assert {p.what.split(":")[0] for p in infos} == {"tmin_c", "tmax_c", "precip_mm", "wind_ms"}


def test_read_weather_grid__without_units_is_refused(tmp_path):
    time = pd.date_range("2026-05-01", periods=3)
    ds = xr.Dataset(
        {name: (("time", "lat", "lon"), np.full((3, 2, 2), value)) for name, value in
         (("tasmin", 283.0), ("tasmax", 295.0), ("pr", 1e-5))},
        coords={"time": time, "lat": [46.5, 46.75], "lon": [126.75, 127.0]},
    )
    ds["tasmax"].attrs["units"] = "K"
    ds["pr"].attrs["units"] = "kg m-2 s-1"
    path = tmp_path / "grid.nc"
    ds.to_netcdf(path)
    with pytest.raises(InputError, match="tasmin has no units attribute; add units"):
        read_weather_grid(path, Report())


def test_read_station_daily__until_drops_later_rows_before_any_check(tmp_path):
    rows = clean_rows(n=40)
    for i in range(27, 40):
        rows[i] = (*rows[i][:5], 3.3)  # the anemometer freezes on day 28 and stays frozen
    path = station_csv(tmp_path, rows)
    as_of = pd.Timestamp(rows[29][1])  # 3 frozen days known by then: not yet a stuck run
    report = Report()
    daily = read_station_daily(path, report, until=as_of.date())
    assert daily["date"].max() == as_of
    assert not any("stuck" in p.what for p in report.problems)
    assert any("stuck" in p.what for p in _read_all(path))


def _read_all(path):
    report = Report()
    read_station_daily(path, report)
    return report.problems
