"""Imagery and weather detectors on tiny hand-made series."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from agririsk.crop_models.crops import crop_params
from agririsk.monitoring.detectors import calendar_ndvi, data_gaps, detect_imagery
from agririsk.monitoring.weather_detectors import crop_calendar, station_conditions
from agririsk.region import Season

SEASON = Season(dt.date(2026, 4, 15), dt.date(2026, 10, 15))
DATES = pd.date_range("2026-05-01", "2026-10-10", freq="10D")


def series(
    curves: dict[str, np.ndarray], *, ndwi: dict[str, np.ndarray] | None = None, cloudy=()
) -> pd.DataFrame:
    """Tidy parcel series: one row per parcel and date; ``cloudy`` dates have clear_fraction 0."""
    rows = []
    for pid, v in curves.items():
        w = (ndwi or {}).get(pid, np.full(len(DATES), -0.4))
        for d, x, y in zip(DATES, v, w, strict=True):
            rows.append(
                dict(
                    parcel_id=pid,
                    item_id=f"S2_{d:%Y%m%d}",
                    datetime=d.tz_localize("UTC"),
                    clear_fraction=0.0 if d in cloudy else 1.0,
                    ndvi_p50=x,
                    ndwi_p50=y,
                )
            )
    return pd.DataFrame(rows)


def normal(crop="maize"):
    return calendar_ndvi(crop, DATES)


def peers(crop="maize", n=6):
    return {f"N{i}": normal(crop) + 0.01 * i for i in range(n)}


def kinds(conds):
    return {(c.parcel_id, c.kind) for c in conds}


def test_detect_imagery__normal_fields_and_normal_harvest_raise_nothing():
    s = series(peers())
    crops = pd.Series("maize", index=[f"N{i}" for i in range(6)])
    for day in DATES:
        assert detect_imagery(s, crops, SEASON, day.date()) == []


def test_detect_imagery__collapse_after_green_is_crop_failure_then_stays_open():
    curve = normal().copy()
    hit = DATES >= "2026-08-01"
    curve[hit] = 0.15 + 0.3 * (curve[hit] - 0.15)  # hail: 30 % of the green amplitude
    s = series({**peers(), "H": curve})
    crops = pd.Series("maize", index=[*peers(), "H"])
    assert detect_imagery(s, crops, SEASON, dt.date(2026, 8, 8)) == []
    # the first clear view after the hail (Aug 9) shows a drop without water or storm:
    # harvest or damage is told by the next clear view (the issue allows first view + 1)
    assert detect_imagery(s, crops, SEASON, dt.date(2026, 8, 9)) == []
    (c,) = detect_imagery(s, crops, SEASON, dt.date(2026, 8, 19))  # the canopy stays low
    assert (c.parcel_id, c.kind, c.onset) == ("H", "crop_failure", dt.date(2026, 8, 9))
    assert c.evidence["expected_ndvi"] > 0.7 and c.evidence["observed_ndvi"] < 0.4
    assert kinds(detect_imagery(s, crops, SEASON, dt.date(2026, 10, 10))) == {("H", "crop_failure")}
    # without a later clear view it is named SHALLOW_WAIT_DAYS (30) after the drop
    cloudy = series({**peers(), "H": curve}, cloudy=DATES[DATES > "2026-08-09"])
    assert detect_imagery(cloudy, crops, SEASON, dt.date(2026, 9, 8)) == []
    assert kinds(detect_imagery(cloudy, crops, SEASON, dt.date(2026, 9, 9))) == {
        ("H", "crop_failure")
    }


def test_detect_imagery__bare_after_green_is_early_harvest():
    curve = normal().copy()
    curve[DATES >= "2026-07-25"] = 0.20  # stubble
    s = series({**peers(), "E": curve})
    crops = pd.Series("maize", index=[*peers(), "E"])
    assert kinds(detect_imagery(s, crops, SEASON, dt.date(2026, 8, 5))) == {("E", "early_harvest")}


def test_detect_imagery__never_green_is_no_emergence():
    s = series({**peers(), "X": np.full(len(DATES), 0.16)})
    crops = pd.Series("maize", index=[*peers(), "X"])
    assert detect_imagery(s, crops, SEASON, dt.date(2026, 6, 1)) == []  # peers not green yet
    assert kinds(detect_imagery(s, crops, SEASON, dt.date(2026, 8, 1))) == {("X", "no_emergence")}


def test_detect_imagery__water_at_collapse_is_flood_but_paddy_water_alone_is_not():
    rice = {f"R{i}": normal("rice") for i in range(6)}
    paddy = {
        k: np.where(DATES < "2026-07-01", -0.03, -0.5) for k in rice
    }  # flooded at transplanting
    curve = normal("rice").copy()
    flood = (DATES >= "2026-08-01") & (DATES < "2026-08-20")
    curve[flood] = 0.2
    water = paddy["R0"].copy()
    water[flood] = 0.05
    s = series({**rice, "F": curve}, ndwi={**paddy, "F": water})
    crops = pd.Series("rice", index=[*rice, "F"])
    assert kinds(detect_imagery(s, crops, SEASON, dt.date(2026, 8, 15))) == {("F", "flood")}
    assert detect_imagery(s, crops, SEASON, dt.date(2026, 6, 20)) == []


def test_detect_imagery__on_track_at_green_up_then_stubble_is_early_harvest():
    """Seen only while greening with its peers, then clouds until after an early harvest:
    the collapse counts (a field growing with its peers at green-up was established)."""
    curve = normal().copy()
    curve[DATES >= "2026-07-20"] = 0.20  # harvested green
    views = DATES[DATES < "2026-06-15"]
    assert (curve[DATES < "2026-06-15"] < 0.45).all()  # never "seen green" before the clouds
    cloudy = set(DATES[(DATES >= "2026-06-15") & (DATES < "2026-07-30")])
    s = series({**peers(), "E": curve}, cloudy=cloudy)
    crops = pd.Series("maize", index=[*peers(), "E"])
    assert len(views) and kinds(detect_imagery(s, crops, SEASON, dt.date(2026, 7, 30))) == {
        ("E", "early_harvest")
    }
    # a field that never emerged stays no_emergence, however cloudy
    bare = series({**peers(), "X": np.full(len(DATES), 0.2)}, cloudy=cloudy)
    crops_x = pd.Series("maize", index=[*peers(), "X"])
    assert kinds(detect_imagery(bare, crops_x, SEASON, dt.date(2026, 8, 30))) == {
        ("X", "no_emergence")
    }


def test_detect_imagery__emerged_but_never_green_after_flowering_is_crop_failure():
    """A field that emerged (NDVI >= 0.30) but stays under 30 % of its peers' canopy after
    the calendar flowering failed; named at the next clear view, like any drop."""
    stunted = np.minimum(normal(), 0.32)
    s = series({**peers(), "S": stunted})
    crops = pd.Series("maize", index=[*peers(), "S"])
    p = crop_params("maize")
    flowering = pd.Timestamp(2026, 1, 1) + pd.Timedelta(days=p.sowing_doy - 1 + p.days_to_peak)
    first = DATES[DATES >= flowering + pd.Timedelta(days=10)][0]
    assert detect_imagery(s, crops, SEASON, first.date()) == []
    later = first + pd.Timedelta(days=10)
    (c,) = detect_imagery(s, crops, SEASON, later.date())
    assert (c.kind, c.onset) == ("crop_failure", first.date())
    # a field sown 10 days late is not one
    late = series({**peers(), "L": calendar_ndvi("maize", DATES - pd.Timedelta(days=10))})
    crops_l = pd.Series("maize", index=[*peers(), "L"])
    assert detect_imagery(late, crops_l, SEASON, dt.date(2026, 10, 10)) == []


def test_detect_imagery__cloudy_dates_are_no_observation():
    curve = normal().copy()
    curve[DATES >= "2026-08-01"] = 0.3
    cloudy = set(DATES[(DATES >= "2026-08-01") & (DATES < "2026-09-01")])
    s = series({**peers(), "H": curve}, cloudy=cloudy)
    crops = pd.Series("maize", index=[*peers(), "H"])
    assert detect_imagery(s, crops, SEASON, dt.date(2026, 8, 25)) == []
    gaps = data_gaps(s, pd.Index([*peers(), "H"]), SEASON, dt.date(2026, 8, 25), min_days=20)
    assert {g.parcel_id for g in gaps} == {*peers(), "H"}


def weather(days, tmax=25.0, tmin=12.0, rain=3.0):
    return pd.DataFrame({"date": days, "tmin_c": tmin, "tmax_c": tmax, "precip_mm": rain})


def test_station_conditions__heat_at_flowering_only():
    p = crop_params("maize")
    cal = crop_calendar(p, 2026)
    days = pd.date_range("2026-04-01", "2026-09-30")
    w = weather(days)
    hot = (days >= cal["flowering"] - pd.Timedelta(days=3)) & (days <= cal["flowering"])
    w.loc[hot, "tmax_c"] = p.t_heat_c + 3
    out = station_conditions(w, "maize", cal["flowering"].date(), 46.6)
    assert [k for k, *_ in out] == ["heat_stress"]
    w2 = weather(days)
    w2.loc[(days >= "2026-06-01") & (days < "2026-06-05"), "tmax_c"] = 40  # vegetative stage
    assert station_conditions(w2, "maize", dt.date(2026, 6, 5), 46.6) == []


def test_station_conditions__frost_after_emergence_and_drought_without_rain():
    cal = crop_calendar(crop_params("soybean"), 2026)
    days = pd.date_range("2026-04-01", "2026-09-30")
    w = weather(days)
    w.loc[days == cal["emergence"] + pd.Timedelta(days=3), "tmin_c"] = -3.0
    out = station_conditions(w, "soybean", (cal["emergence"] + pd.Timedelta(days=5)).date(), 46.6)
    assert [(k, s) for k, s, *_ in out] == [("frost", "high")]
    dry = weather(days, tmax=32.0, tmin=18.0, rain=0.0)
    out = station_conditions(dry, "soybean", dt.date(2026, 7, 25), 46.6)
    assert "drought" in [k for k, *_ in out]
    assert "drought" not in [
        k
        for k, *_ in station_conditions(
            weather(days, rain=8.0), "soybean", dt.date(2026, 7, 25), 46.6
        )
    ]


def test_station_conditions__drought_judged_at_the_window_end_until_maturity():
    """Stress counts up to maturity - 20 d; a run between that day and maturity judges the
    window as it ended (a 15-day cron must not skip it); after maturity nothing."""
    from agririsk.monitoring.weather_detectors import DROUGHT_END_DAYS

    cal = crop_calendar(crop_params("maize"), 2026)
    stop = cal["maturity"] - pd.Timedelta(days=DROUGHT_END_DAYS)
    days = pd.date_range("2026-04-01", "2026-10-30")
    w = weather(days, rain=6.0)
    dry = days >= stop - pd.Timedelta(days=45)
    w.loc[dry, ["tmax_c", "tmin_c", "precip_mm"]] = [32.0, 18.0, 0.0]
    at_stop = [c for c in station_conditions(w, "maize", stop.date(), 46.6) if c[0] == "drought"]
    assert at_stop
    after = stop + pd.Timedelta(days=10)
    (d,) = [c for c in station_conditions(w, "maize", after.date(), 46.6) if c[0] == "drought"]
    assert d[3] == stop and d[4]["yield_loss_so_far"] == at_stop[0][4]["yield_loss_so_far"]
    assert d[4]["stress_window_end"] == str(stop.date())
    past = (cal["maturity"] + pd.Timedelta(days=1)).date()
    assert "drought" not in [c[0] for c in station_conditions(w, "maize", past, 46.6)]


def _random_fields(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Fields of four crops with every kind of trouble: late sowing, hail, flood, harvest, bare."""
    crops = ["maize", "soybean", "wheat", "rice"]
    rows = []
    dates = pd.date_range("2026-04-05", "2026-10-20", freq="5D")
    for i in range(n):
        crop = crops[i % len(crops)]
        shift = int(rng.integers(-15, 16))
        v = calendar_ndvi(crop, dates - pd.Timedelta(days=shift)) + rng.normal(0, 0.03, len(dates))
        w = np.full(len(dates), -0.4) + rng.normal(0, 0.05, len(dates))
        event = rng.integers(0, 6)
        k = int(rng.integers(5, len(dates) - 3))
        if event == 1:  # hail: a drop, then regrowth
            v[k:] = 0.15 + (v[k:] - 0.15) * np.minimum(1, 0.3 + 0.02 * np.arange(len(dates) - k))
        elif event == 2:  # flood: canopy gone, open water
            v[k:] = 0.18
            w[k : k + 3] = 0.2
        elif event == 3:  # harvest to stubble
            v[k:] = 0.2
        elif event == 4:  # never sown
            v[:] = 0.17 + rng.normal(0, 0.02, len(dates))
        cloudy = rng.random(len(dates)) < 0.4
        for d, x, y, c in zip(dates, v, w, cloudy, strict=True):
            rows.append(
                dict(
                    parcel_id=f"P{i:04d}",
                    item_id=f"S2_{d:%Y%m%d}",
                    datetime=d.tz_localize("UTC"),
                    clear_fraction=0.2 if c else float(rng.uniform(0.6, 1.0)),
                    ndvi_p50=float(x),
                    ndwi_p50=float(y),
                    crop=crop,
                )
            )
    return pd.DataFrame(rows)


def test_detect_imagery__numba_kernel_decides_like_the_python_detector():
    """The kernel that picks the parcels to describe flags exactly those with a condition."""
    import pytest

    from agririsk.imagery._fused import HAVE_NUMBA
    from agririsk.monitoring.detectors import clear_observations, detect_imagery_obs

    if not HAVE_NUMBA:
        pytest.skip("numba not installed: the Python detector runs on every parcel")
    s = _random_fields(np.random.default_rng(11), 400)
    twin = s.sample(frac=0.1, random_state=1)  # same-day views of an overlapping tile
    twin = twin.assign(item_id=twin["item_id"] + "_T2", ndvi_p50=twin["ndvi_p50"] + 0.05)
    s = pd.concat([s, twin], ignore_index=True)
    crops = s.groupby("parcel_id")["crop"].first()
    found = 0
    for as_of in pd.date_range("2026-05-20", "2026-10-20", freq="20D"):
        obs = clear_observations(s, SEASON, as_of.date())
        py = detect_imagery_obs(obs, crops, SEASON, as_of.date(), use_kernel=False)
        nb = detect_imagery_obs(obs, crops, SEASON, as_of.date(), use_kernel=True)
        assert nb == py
        found += len(py)
        # the observation store returns rows in any order: the result must not depend on it
        shuffled = clear_observations(s.sample(frac=1, random_state=3), SEASON, as_of.date())
        pd.testing.assert_frame_equal(shuffled, obs)
    assert found > 100  # the random fields do raise conditions of several kinds
    assert {c.kind for c in py} >= {"crop_failure", "no_emergence", "early_harvest"}
