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


def _both_paths(s, crops, as_of, **kw):
    """detect_imagery_obs with and without the numba filter: the same conditions."""
    from agririsk.imagery._fused import HAVE_NUMBA
    from agririsk.monitoring.detectors import clear_observations, detect_imagery_obs

    obs = clear_observations(s, SEASON, as_of)
    py = detect_imagery_obs(obs, crops, SEASON, as_of, use_kernel=False, **kw)
    if HAVE_NUMBA:
        assert detect_imagery_obs(obs, crops, SEASON, as_of, use_kernel=True, **kw) == py
    return py


def test_detect_imagery__collapse_seen_late_is_named_by_the_storm_and_regrown_hail_is_not():
    """Clouds for 30 days after a storm: a field level with its peers (Jul 10) is below half
    of them on Aug 9. A flood canopy stays there; hail would have regrown to ~70 %."""
    cloudy = set(DATES[(DATES > "2026-07-10") & (DATES < "2026-08-09")])
    after = DATES > "2026-07-15"
    crops = pd.Series("maize", index=[*peers(), "F"])
    storm = pd.DataFrame(
        {"parcel_id": ["F"], "date": [pd.Timestamp("2026-07-15")], "precip_mm": [60.0]}
    )

    def field(share):
        curve = normal().copy()
        curve[after] = 0.15 + share * (curve[after] - 0.15)
        return series({**peers(), "F": curve}, cloudy=cloudy)

    flooded = field(0.4)
    # the first view after the gap waits for the next one (a harvest's dry-down looks alike)
    assert _both_paths(flooded, crops, dt.date(2026, 8, 9), heavy_rain=storm) == []
    (c,) = _both_paths(flooded, crops, dt.date(2026, 8, 19), heavy_rain=storm)
    assert (c.kind, c.onset) == ("flood", dt.date(2026, 8, 9))
    assert 0.3 <= c.evidence["canopy_fraction"] < 0.5 and c.evidence["heavy_rain"] is True
    assert kinds(_both_paths(flooded, crops, dt.date(2026, 8, 19))) == {("F", "crop_failure")}
    # hail regrown to 70 % of the canopy is no collapse: the gap hides the fall
    regrown = {
        x.kind for x in _both_paths(field(0.7), crops, dt.date(2026, 9, 1), heavy_rain=storm)
    }
    assert not regrown & {"flood", "crop_failure"}


def test_detect_imagery__storm_without_water_on_the_next_days_does_not_name_a_flood():
    """A deep drop (25 % of the canopy, flat) after a storm. A clear view 5 days after the
    storm without open water rules the flood out (flood water stays ~10 days): a crop
    failure, named once the next view shows the canopy settled. 9 days after the storm the
    water may be draining: the drop view alone does not decide, and the next view, still
    at 25 % ten days on (hail would have regrown to ~45 %), names the flood."""
    curve = normal().copy()
    hit = DATES >= "2026-07-30"
    curve[hit] = 0.15 + 0.25 * (curve[hit] - 0.15)
    s = series({**peers(), "H": curve})
    crops = pd.Series("maize", index=[*peers(), "H"])

    def storm(day):
        return pd.DataFrame({"parcel_id": ["H"], "date": [pd.Timestamp(day)], "precip_mm": [50.0]})

    # storm 9 days before the dry view: undecided on it, a flood by the next view
    assert _both_paths(s, crops, dt.date(2026, 7, 30), heavy_rain=storm("2026-07-21")) == []
    (c,) = _both_paths(s, crops, dt.date(2026, 8, 9), heavy_rain=storm("2026-07-21"))
    assert (c.kind, c.onset) == ("flood", dt.date(2026, 7, 30))
    # storm 5 days before a view without water: not a flood; named at the next view
    assert _both_paths(s, crops, dt.date(2026, 7, 30), heavy_rain=storm("2026-07-25")) == []
    assert kinds(_both_paths(s, crops, dt.date(2026, 8, 9), heavy_rain=storm("2026-07-25"))) == {
        ("H", "crop_failure")
    }


def test_detect_imagery__open_water_after_ripening_starts_is_flood_a_harvest_is_not():
    """From 30 days before the calendar maturity (Aug 29 for maize) drops are not compared,
    but a green field under open water is flooded, not harvested."""
    curve = normal().copy()
    gone = DATES >= "2026-09-08"
    curve[gone] = 0.18
    ndwi = np.where(gone, 0.05, -0.4)
    crops = pd.Series("maize", index=[*peers(), "F"])
    s = series({**peers(), "F": curve}, ndwi={"F": ndwi})
    (c,) = _both_paths(s, crops, dt.date(2026, 9, 8))
    assert (c.kind, c.onset, c.evidence["open_water"]) == ("flood", dt.date(2026, 9, 8), True)
    # the same drop to stubble without water is a harvest: nothing
    dry = series({**peers(), "F": np.where(gone, 0.20, curve)})
    assert _both_paths(dry, crops, dt.date(2026, 9, 18)) == []


def _young_paddy(cloudy=()):  # type: ignore[no-untyped-def]
    """Six rice peers and a paddy ``Y`` not yet at NDVI 0.30, under open water (no growth)
    from Jul 5 to Jul 25 while the peers green up; and the crops."""
    rice = {f"R{i}": normal("rice") + 0.01 * i for i in range(6)}
    paddy = {k: np.where(DATES < "2026-07-01", -0.03, -0.5) for k in rice}
    young = np.minimum(normal("rice"), 0.28)
    under = (DATES > "2026-07-05") & (DATES < "2026-07-25")
    young[under] = 0.16
    water = np.where(under, 0.05, np.where(DATES < "2026-07-01", -0.03, -0.3))
    s = series({**rice, "Y": young}, ndwi={**paddy, "Y": water}, cloudy=cloudy)
    return s, pd.Series("rice", index=[*rice, "Y"])


def test_detect_imagery__young_paddy_under_water_after_a_storm_is_flood_not_no_emergence():
    """A paddy not yet at NDVI 0.30 drowned by a storm (Jul 5): open water above its peers',
    no growth while they green up. Without the storm it is a field never sown."""
    s, crops = _young_paddy()
    storm = pd.DataFrame(
        {"parcel_id": ["Y"], "date": [pd.Timestamp("2026-07-05")], "precip_mm": [55.0]}
    )
    (c,) = _both_paths(s, crops, dt.date(2026, 7, 20), heavy_rain=storm)
    assert (c.kind, c.onset, c.evidence["open_water"]) == ("flood", dt.date(2026, 7, 10), True)
    assert kinds(_both_paths(s, crops, dt.date(2026, 7, 20))) == {("Y", "no_emergence")}


def test_detect_imagery__stubble_once_the_peers_ripen_is_the_damaged_field_s_harvest():
    """A crop failure (Aug 9) harvested with its peers (stubble Sep 8, after the start of
    ripening, peers below their plateau) stays a crop failure; stubble while the peers are
    green is an early harvest."""
    curve = normal().copy()
    hit = DATES >= "2026-08-09"
    curve[hit] = 0.15 + 0.15 * (curve[hit] - 0.15)
    curve[DATES >= "2026-09-08"] = 0.20
    s = series({**peers(), "H": curve})
    crops = pd.Series("maize", index=[*peers(), "H"])
    assert kinds(_both_paths(s, crops, dt.date(2026, 9, 10))) == {("H", "crop_failure")}
    early = normal().copy()
    early[DATES >= "2026-08-09"] = 0.20
    e = series({**peers(), "E": early})
    crops_e = pd.Series("maize", index=[*peers(), "E"])
    assert kinds(_both_paths(e, crops_e, dt.date(2026, 9, 10))) == {("E", "early_harvest")}


def test_area_heavy_rain__the_parcel_s_station_and_those_within_the_radius():
    from agririsk.monitoring.detectors import area_heavy_rain

    stations = pd.DataFrame(
        {"station_id": ["A", "B", "C"], "lat": [46.0, 46.18, 46.54], "lon": [127.0] * 3}
    )  # B 20 km north of A, C 60 km
    day = pd.Timestamp("2026-07-15")
    weather = pd.DataFrame(
        {
            "station_id": ["A", "B", "C", "C"],
            "date": [day, day, day + pd.Timedelta(days=1), day],
            "precip_mm": [5.0, 52.0, 80.0, 0.0],
        }
    )
    near = pd.Series(["A", "C"], index=["P1", "P2"])
    got = area_heavy_rain(weather, stations, near, 40.0)
    assert sorted(map(tuple, got[["parcel_id", "date", "precip_mm"]].to_numpy().tolist())) == [
        ("P1", day, 52.0),
        ("P2", day + pd.Timedelta(days=1), 80.0),
    ]
    only_own = area_heavy_rain(weather, stations, near, 40.0, radius_km=10)
    assert list(only_own["parcel_id"]) == ["P2"]


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


def test_detect_imagery__flooded_before_the_peers_are_green_is_flood_at_their_first_green_view():
    """A storm (May 28) floods a young maize field: open water above its peers' on May 31,
    while they are not green yet (their canopy is not comparable), then 15 % of its own
    canopy regrowing to 45 % (docs/sample-region.md §3). On the peers' first green view
    (Jun 20, ``ref >= 0.55``) it is below half of them: ``flood``, dated that view. The
    same field without the storm, and a field with the water and the storm that grows
    level with its peers afterwards, are no flood."""
    since = (DATES - pd.Timestamp("2026-05-28")).days.to_numpy(float)
    rec = np.where(since >= 0, 0.15 + 0.3 * np.clip((since - 10) / 30, 0, 1), 1.0)
    flooded = 0.15 + rec * (normal() - 0.15)
    water = np.where((since > 0) & (since <= 10), 0.1, -0.4)
    storm = pd.DataFrame(
        {"parcel_id": ["F"], "date": [pd.Timestamp("2026-05-28")], "precip_mm": [62.0]}
    )
    crops = pd.Series("maize", index=[*peers(), "F"])
    s = series({**peers(), "F": flooded}, ndwi={"F": water})
    # the water alone names nothing yet: the peers are not green
    assert _both_paths(s, crops, dt.date(2026, 6, 12), heavy_rain=storm) == []
    (c,) = _both_paths(s, crops, dt.date(2026, 6, 22), heavy_rain=storm)
    assert (c.kind, c.onset, c.severity) == ("flood", dt.date(2026, 6, 20), "high")
    assert c.evidence["canopy_fraction"] < 0.5
    # still open a month later: the flood canopy stays below 45 % of its own
    assert kinds(_both_paths(s, crops, dt.date(2026, 7, 22), heavy_rain=storm)) == {("F", "flood")}
    # without the storm the water and the lag do not make a flood
    no_storm = kinds(_both_paths(s, crops, dt.date(2026, 7, 22)))
    assert ("F", "flood") not in no_storm
    # a puddle after the storm on a field that then grows with its peers: nothing
    level = series({**peers(), "F": normal() + 0.005}, ndwi={"F": water})
    assert _both_paths(level, crops, dt.date(2026, 7, 22), heavy_rain=storm) == []


def test_detect_imagery__late_sown_field_without_water_after_a_storm_is_no_flood():
    """A maize field sown 20 days late is below half of its peers on their first green view
    (Jun 20) after the same storm, but showed no open water: no flood (nor any damage)."""
    late = np.r_[0.15, 0.15, normal()[:-2]]  # the calendar curve 20 days later
    storm = pd.DataFrame(
        {"parcel_id": ["L"], "date": [pd.Timestamp("2026-05-28")], "precip_mm": [62.0]}
    )
    crops = pd.Series("maize", index=[*peers(), "L"])
    s = series({**peers(), "L": late})
    got = kinds(_both_paths(s, crops, dt.date(2026, 7, 22), heavy_rain=storm))
    assert not got & {("L", k) for k in ("flood", "crop_failure", "early_harvest")}


def test_detect_imagery__regrowing_after_a_fall_seen_only_after_it_is_crop_failure():
    """Clouds from Jun 20 to Jul 10; hail on Jul 12. The field, last seen on track with its
    peers (Jun 10), is at ~43 % of them on Jul 20 and has regrown its own NDVI by 0.1 of
    their amplitude on Jul 30 (hail regrows 30 % -> 70 % over 25 days): a crop failure,
    dated Jul 20. A field as low that does not regrow (a poor stand, drought) is not."""
    cloudy = set(DATES[(DATES > "2026-06-10") & (DATES < "2026-07-20")])
    since = (DATES - pd.Timestamp("2026-07-12")).days.to_numpy(float)
    share = np.where(since >= 0, 0.3 + 0.4 * np.clip(since / 25, 0, 1), 1.0)
    hail = 0.15 + share * (normal() - 0.15)
    crops = pd.Series("maize", index=[*peers(), "H"])
    s = series({**peers(), "H": hail}, cloudy=cloudy)
    assert _both_paths(s, crops, dt.date(2026, 7, 25)) == []
    (c,) = _both_paths(s, crops, dt.date(2026, 7, 31))
    assert (c.kind, c.onset) == ("crop_failure", dt.date(2026, 7, 20))
    assert c.evidence["canopy_fraction"] < 0.5
    stand = np.where(since >= 0, 0.15 + 0.43 * (normal() - 0.15), normal())
    flat = series({**peers(), "H": stand}, cloudy=cloudy)
    got = kinds(_both_paths(flat, crops, dt.date(2026, 8, 20)))
    assert not got & {("H", k) for k in ("crop_failure", "flood", "early_harvest")}


def test_detect_imagery__a_canopy_still_falling_waits_for_stubble_not_crop_failure():
    """A green field drops to ~42 % of its peers (Jul 30), is lower again on Aug 9 (the
    dry-down goes on) and at stubble on Aug 19: no crop failure on Aug 9, an early harvest
    on Aug 19. Hail's canopy, which stops and regrows, is named on the next view."""
    curve = normal().copy()
    curve[DATES == "2026-07-30"] = 0.45
    curve[DATES == "2026-08-09"] = 0.33
    curve[DATES >= "2026-08-19"] = 0.20
    crops = pd.Series("maize", index=[*peers(), "E"])
    s = series({**peers(), "E": curve})
    assert _both_paths(s, crops, dt.date(2026, 8, 10)) == []
    assert kinds(_both_paths(s, crops, dt.date(2026, 8, 20))) == {("E", "early_harvest")}
    hail = normal().copy()
    hail[DATES == "2026-07-30"] = 0.45
    hail[DATES == "2026-08-09"] = 0.50
    h = series({**peers(), "E": hail})
    assert kinds(_both_paths(h, crops, dt.date(2026, 8, 10))) == {("E", "crop_failure")}


def _struck(kind: str, day: str) -> np.ndarray:
    """A maize field struck by hail or a flood on ``day`` (docs/sample-region.md §3 shares)."""
    from agririsk.monitoring.signatures import share

    since = (DATES - pd.Timestamp(day)).days.to_numpy(float)
    keep = np.where(since >= 0, share(kind, np.maximum(since, 0)), 1.0)
    return 0.15 + keep * (normal() - 0.15)


def _hail_named(
    s: pd.DataFrame, crops: pd.Series, quiet: dt.date, named: dt.date, silent: tuple, since: str
) -> dict:
    """Field H: no damage alert at ``quiet``, one ``crop_failure`` at ``named``; the
    ``silent`` fields without a damage alert on every date from ``since`` (both paths).
    Returns H's evidence with its onset."""
    damage = {"flood", "crop_failure", "early_harvest", "no_emergence"}
    assert not {c.kind for c in _both_paths(s, crops, quiet) if c.parcel_id == "H"} & damage
    (c,) = [c for c in _both_paths(s, crops, named) if c.parcel_id == "H"]
    assert c.kind == "crop_failure"
    for day in DATES[DATES >= since]:
        got = _both_paths(s, crops, day.date())
        assert not {c.kind for c in got if c.parcel_id in silent} & damage
    return {**c.evidence, "onset": c.onset}


def _scaled(share: float | np.ndarray) -> np.ndarray:
    """A maize field at ``share`` of the calendar's green amplitude on each date."""
    return 0.15 + share * (normal() - 0.15)


def _rain(pid: str, day: str) -> pd.DataFrame:
    return pd.DataFrame({"parcel_id": [pid], "date": [pd.Timestamp(day)], "precip_mm": [52.0]})


def test_detect_imagery__hail_after_a_storm_is_crop_failure_by_its_regrowth():
    """A storm on Jul 22, clouds from Jul 11 to Aug 8, hail on Aug 3. On Aug 9 the field
    (level with its peers on Jul 10) is at ~40 % of them: a collapse seen late after a
    storm, which the storm alone used to name ``flood``. Hail 6 days old and a flood 18
    days old both fit one view (no alert yet); on Aug 19 the field has regrown to ~55 %,
    hail's 0.3 + 0.4 x 16/25, where a flood would be at 0.15 + 0.3 x 18/30 = 33 %:
    ``crop_failure``, dated Aug 9 (the issue's first clear view + 1)."""
    cloudy = set(DATES[(DATES > "2026-07-10") & (DATES < "2026-08-09")])
    crops = pd.Series("maize", index=[*peers(), "H"])
    s = series({**peers(), "H": _struck("hail", "2026-08-03")}, cloudy=cloudy)
    storm = _rain("H", "2026-07-22")
    assert _both_paths(s, crops, dt.date(2026, 8, 9), heavy_rain=storm) == []
    (c,) = _both_paths(s, crops, dt.date(2026, 8, 19), heavy_rain=storm)
    assert (c.kind, c.onset, c.evidence["heavy_rain"]) == (
        "crop_failure",
        dt.date(2026, 8, 9),
        True,
    )
    # and it stays named so when later views come
    got = kinds(_both_paths(s, crops, dt.date(2026, 9, 30), heavy_rain=storm))
    assert got == {("H", "crop_failure")}


def test_detect_imagery__flood_after_a_storm_is_flood_by_its_flat_canopy():
    """The same storm floods the field (Jul 22); the water has drained by Aug 9 (18 days),
    the canopy is at ~23 % of its own and regrows slowly (33 % on Aug 19): ``flood``,
    dated Aug 9, by the next view at the latest. A hail canopy that low would be hours
    old on Aug 9 and at ~45 % ten days later."""
    cloudy = set(DATES[(DATES > "2026-07-10") & (DATES < "2026-08-09")])
    crops = pd.Series("maize", index=[*peers(), "F"])
    s = series({**peers(), "F": _struck("flood", "2026-07-22")}, cloudy=cloudy)
    storm = _rain("F", "2026-07-22")
    early = _both_paths(s, crops, dt.date(2026, 8, 9), heavy_rain=storm)
    assert kinds(early) <= {("F", "flood")}  # named at once when decisive, else it waits
    (c,) = _both_paths(s, crops, dt.date(2026, 8, 19), heavy_rain=storm)
    assert (c.kind, c.onset) == ("flood", dt.date(2026, 8, 9))
    # water seen 8 days after the storm names it on that view
    wet = series(
        {**peers(), "F": _struck("flood", "2026-07-22")},
        ndwi={"F": np.where(DATES == "2026-07-30", 0.1, -0.4)},
        cloudy=cloudy - {pd.Timestamp("2026-07-30")},
    )
    (c,) = _both_paths(wet, crops, dt.date(2026, 7, 30), heavy_rain=storm)
    assert (c.kind, c.onset, c.evidence["open_water"]) == ("flood", dt.date(2026, 7, 30), True)


def test_detect_imagery__a_storm_over_a_normal_field_or_without_a_next_view_is_silent():
    """A field growing with its peers through the storm raises nothing; the hail field of
    the test above without a view after Aug 9 stays silent until SHALLOW_WAIT_DAYS (30)
    after the drop, then is named by the one view it has."""
    cloudy = set(DATES[(DATES > "2026-07-10") & (DATES < "2026-08-09")])
    crops = pd.Series("maize", index=[*peers(), "N", "H"])
    hail_only_once = cloudy | set(DATES[DATES > "2026-08-09"])
    s = series(
        {**peers(), "N": normal() + 0.005, "H": _struck("hail", "2026-08-03")},
        cloudy=hail_only_once,
    )
    storm = pd.concat([_rain("N", "2026-07-22"), _rain("H", "2026-07-22")])
    assert _both_paths(s, crops, dt.date(2026, 9, 7), heavy_rain=storm) == []
    got = kinds(_both_paths(s, crops, dt.date(2026, 9, 9), heavy_rain=storm))
    assert ("N", "flood") not in got and ("N", "crop_failure") not in got
    assert len(got & {("H", "flood"), ("H", "crop_failure")}) == 1


def test_detect_imagery__flood_seen_weeks_later_after_green_up_is_flood():
    """Clouds from Jun 11 to Aug 8; a storm floods the field on Jul 10. On Jun 10 it grew
    with its peers (at ~88 % of them, half-way green); on Aug 9 it is at ~33 % of them at
    their plateau (a flood's 15 % regrowing to 45 %), its own NDVI about as on Jun 10 (the
    flood cut a canopy that would have doubled): below a flood's ceiling (45 %) after a
    storm, seen late. Until this rule it was only ``vegetation_decline``; hail 30 days old
    would be at ~70 %: ``flood``, dated Aug 9."""
    cloudy = set(DATES[(DATES > "2026-06-10") & (DATES < "2026-08-09")])
    crops = pd.Series("maize", index=[*peers(), "F"])
    s = series({**peers(), "F": _struck("flood", "2026-07-10")}, cloudy=cloudy)
    storm = _rain("F", "2026-07-10")
    (c,) = _both_paths(s, crops, dt.date(2026, 8, 19), heavy_rain=storm)
    assert (c.kind, c.onset) == ("flood", dt.date(2026, 8, 9))
    assert c.evidence["canopy_fraction"] < 0.45 and c.evidence["heavy_rain"] is True


def test_detect_imagery__behind_its_peers_weeks_later_without_storm_or_above_ceiling_is_silent():
    """The flooded field of the test above without a storm (a poor stand or drought can put
    a field below its peers over 60 days), and a field at 60 % of its own canopy from Jul 10
    on with the storm (above a flood's ceiling: drought, or hail regrown): no flood. The
    first is not silent for all that: its share of the peers at their plateau rises from
    Aug 9 to Aug 19 (a flood's canopy regrowing from 15 % to 45 %), which a poor stand or a
    drought-hit field does not do, so from Aug 19 on it is ``crop_failure`` (no storm:
    hail's name; docs/monitoring.md, "Hail below half of its peers, regrowing at hail's
    rate"); on Aug 9, before that view, both are ``vegetation_decline`` at most."""
    cloudy = set(DATES[(DATES > "2026-06-10") & (DATES < "2026-08-09")])
    crops = pd.Series("maize", index=[*peers(), "F", "D"])
    low = normal().copy()
    after = DATES >= "2026-07-10"
    low[after] = 0.15 + 0.6 * (low[after] - 0.15)
    s = series({**peers(), "F": _struck("flood", "2026-07-10"), "D": low}, cloudy=cloudy)
    damage = {"flood", "crop_failure"}
    got = _both_paths(s, crops, dt.date(2026, 8, 10), heavy_rain=_rain("D", "2026-07-10"))
    assert not {c.kind for c in got} & damage
    for day in (dt.date(2026, 8, 19), dt.date(2026, 9, 8)):
        got = _both_paths(s, crops, day, heavy_rain=_rain("D", "2026-07-10"))
        assert kinds(got) == {("F", "crop_failure"), ("D", "vegetation_decline")}


def test_detect_imagery__hail_regrowing_before_flowering_is_crop_failure_a_late_field_is_not():
    """Clouds from Jun 11 to Jul 9, hail on Jul 3, before the calendar flowering (Jul 15).
    On Jul 10 the field, on track on Jun 10, is at ~40 % of its peers, its own NDVI no lower
    than on Jun 10 (no abrupt fall to see); on Jul 20 it has regrown by 0.16 of their
    amplitude (hail's 41 % -> 57 % of its own canopy): ``crop_failure`` dated Jul 10 (the
    *regrowing* rule counted from flowering only until this step). A field sown 10 days
    late, behind its peers all through green-up, raises no damage alert."""
    cloudy = set(DATES[(DATES > "2026-06-10") & (DATES < "2026-07-10")])
    crops = pd.Series("maize", index=[*peers(), "H", "L"])
    doy = DATES.day_of_year.to_numpy(float)
    late = np.interp(doy - 10, doy, normal())
    s = series({**peers(), "H": _struck("hail", "2026-07-03"), "L": late}, cloudy=cloudy)
    (c,) = [c for c in _both_paths(s, crops, dt.date(2026, 7, 20)) if c.parcel_id == "H"]
    assert (c.kind, c.onset) == ("crop_failure", dt.date(2026, 7, 10))
    damage = {"flood", "crop_failure", "early_harvest", "no_emergence"}
    for day in DATES[DATES >= "2026-06-10"]:
        got = _both_paths(s, crops, day.date())
        assert not {c.kind for c in got if c.parcel_id == "L"} & damage


def test_detect_imagery__hail_seen_18_days_on_regrowing_in_the_band_is_crop_failure():
    """Clouds from May 11 to Jul 20: the field is first seen green on Jul 30, 18 days after
    hail (Jul 12), at ~59 % of its peers (hail's 30 % regrowing 1.6 points a day), above
    the ``f < 0.5`` collapse bound and without a view before to see the fall. On Aug 9 its
    share of its peers at their plateau has risen by ~0.11 (hail's 70 % at 25 days):
    ``crop_failure`` dated Jul 30, through both paths. A poor stand at 55 % of its peers
    (no regrowth), and a field sown 10 days late (level with its peers by then), stay
    silent on every date."""
    cloudy = set(DATES[(DATES > "2026-05-01") & (DATES < "2026-07-30")])
    doy = DATES.day_of_year.to_numpy(float)
    crops = pd.Series("maize", index=[*peers(), "H", "P", "L"])
    fields = {
        **peers(),
        "H": _struck("hail", "2026-07-12"),
        "P": 0.15 + 0.55 * (normal() - 0.15),
        "L": np.interp(doy - 10, doy, normal()),
    }
    s = series(fields, cloudy=cloudy)
    ev = _hail_named(s, crops, dt.date(2026, 8, 5), dt.date(2026, 8, 10), ("P", "L"), "2026-07-30")
    assert ev["onset"] == dt.date(2026, 7, 30) and 0.5 <= ev["canopy_fraction"] < 0.6


def test_detect_imagery__band_field_gaining_faster_than_hail_regrows_is_silent():
    """The same clouds; a field at ~55 % of its peers on Jul 30 that gains 0.3 of their
    canopy by Aug 9 (three times hail's 1.6 points a day: a late sowing catching up), and
    one that gains only 0.04 (noise), raise no damage alert, through both paths."""
    cloudy = set(DATES[(DATES > "2026-05-01") & (DATES < "2026-07-30")])
    share_fast = np.where(DATES >= "2026-08-09", 0.85, 0.55)
    share_slow = np.where(DATES >= "2026-08-09", 0.59, 0.55)
    crops = pd.Series("maize", index=[*peers(), "F", "S"])
    s = series({**peers(), "F": _scaled(share_fast), "S": _scaled(share_slow)}, cloudy=cloudy)
    damage = {"flood", "crop_failure", "early_harvest", "no_emergence"}
    for day in DATES[DATES >= "2026-07-30"]:
        got = _both_paths(s, crops, day.date())
        assert not {c.kind for c in got if c.parcel_id in ("F", "S")} & damage


def test_detect_imagery__hail_below_half_not_seen_green_regrowing_at_hail_s_rate_is_crop_failure():
    """Clouds from May 12 to Jul 19 (the field last seen bare, not seen green nor on
    track): hail on Jul 10; on Jul 20 the field is at ~44 % of its peers at their plateau,
    below the band's 50 % and never seen green, so no rule fired (seed 42's four maize
    fields); on Jul 30 its share has risen by ~0.15, hail's 1.6 points a day:
    ``crop_failure`` dated Jul 20, through both paths (docs/monitoring.md, "Hail below half
    of its peers, regrowing at hail's rate"). Silent on every date: a poor stand at 40 % of
    its peers (no regrowth), a field catching up faster than hail regrows (0.40 -> 0.75 in
    10 days: a late sowing), and, once it has emerged, a field of another crop greening up
    under the peers' plateau from below NDVI 0.30 (8 % -> 19 % of the peers: no canopy for
    hail to strike; its ``no_emergence`` while it is below 0.30 is the crop check's)."""
    cloudy = set(DATES[(DATES > "2026-05-11") & (DATES < "2026-07-20")])
    at = [DATES >= "2026-08-09", DATES >= "2026-07-30", DATES >= "2026-07-20"]
    catch_up = np.select(at[1:], [0.75, 0.40], 0.0)
    other = np.select(at, [0.75, 0.2, 0.08], 0.0)
    crops = pd.Series("maize", index=[*peers(), "H", "P", "F", "W"])
    fields = {"H": _struck("hail", "2026-07-10"), "P": _scaled(0.4), "F": _scaled(catch_up)}
    s = series({**peers(), **fields, "W": _scaled(other)}, cloudy=cloudy)
    ev = _hail_named(s, crops, dt.date(2026, 7, 25), dt.date(2026, 8, 1), ("P", "F"), "2026-07-20")
    assert ev["onset"] == dt.date(2026, 7, 20) and 0.3 <= ev["canopy_fraction"] < 0.5
    _hail_named(s, crops, dt.date(2026, 7, 25), dt.date(2026, 8, 1), ("W",), "2026-08-09")


def test_detect_imagery__dry_down_then_stubble_weeks_later_is_early_harvest():
    """A green field falls to ~42 % of its peers (Jul 30) and lower again on Aug 9 (the
    dry-down goes on); clouds until Sep 8, where it is at stubble while its peers, past
    the start of ripening, are still at 0.63: an early harvest (the cut ended the dry-down),
    which the 30-day window of the stubble used to call ``crop_failure``
    (docs/monitoring.md, "Early harvests seen weeks later"). The silent cases, on the same
    dates and sky: hail (the canopy stops falling and regrows on Aug 9) and a flood (flat
    at ~17 %) harvested with their peers stay ``crop_failure``; a normal field is silent."""
    cloudy = pd.DatetimeIndex(["2026-08-19", "2026-08-29"])
    crops = pd.Series("maize", index=[*peers(), "E"])
    sep10 = dt.date(2026, 9, 10)
    early = normal().copy()
    early[DATES == "2026-07-30"] = 0.45
    early[DATES == "2026-08-09"] = 0.33
    early[DATES >= "2026-09-08"] = 0.20
    s = series({**peers(), "E": early}, cloudy=cloudy)
    assert kinds(_both_paths(s, crops, sep10)) == {("E", "early_harvest")}
    # one view of the dry-down, the next at stubble 40 days later: the same
    once = early.copy()
    once[DATES == "2026-08-09"] = 0.20
    s1 = series({**peers(), "E": once}, cloudy=cloudy.append(pd.DatetimeIndex(["2026-08-09"])))
    assert kinds(_both_paths(s1, crops, sep10)) == {("E", "early_harvest")}
    hail = early.copy()
    hail[DATES == "2026-08-09"] = 0.50
    h = series({**peers(), "E": hail}, cloudy=cloudy)
    assert kinds(_both_paths(h, crops, sep10)) == {("E", "crop_failure")}
    flood = early.copy()
    flood[DATES == "2026-07-30"] = 0.27
    flood[DATES == "2026-08-09"] = 0.26
    f = series({**peers(), "E": flood}, cloudy=cloudy)
    assert kinds(_both_paths(f, crops, sep10)) == {("E", "crop_failure")}
    ok = series({**peers(), "E": normal() + 0.005}, cloudy=cloudy)
    assert _both_paths(ok, crops, sep10) == []


def test_detect_imagery__a_storm_of_an_earlier_season_does_not_name_the_first_view_a_flood():
    """A young paddy under water whose first clear view of the season is Jul 10: a storm
    that day's week drowned it; a storm of last July, before the season's window, did not
    (no view before the first one tells it apart: only the window does)."""
    s, crops = _young_paddy(cloudy=set(DATES[DATES < "2026-07-10"]))

    def storm(day):
        return pd.DataFrame({"parcel_id": ["Y"], "date": [pd.Timestamp(day)], "precip_mm": [55.0]})

    as_of = dt.date(2026, 7, 20)
    assert kinds(_both_paths(s, crops, as_of, heavy_rain=storm("2026-07-05"))) == {("Y", "flood")}
    last_year = _both_paths(s, crops, as_of, heavy_rain=storm("2025-07-05"))
    assert kinds(last_year) == kinds(_both_paths(s, crops, as_of)) == {("Y", "no_emergence")}
