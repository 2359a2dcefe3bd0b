"""Alert lifecycle by hand: open → ongoing → resolved; clouds change nothing; stable ids."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from agririsk.monitoring.lifecycle import Condition, alert_id, apply_lifecycle

D = dt.date
AUG4 = D(2026, 8, 4)
JUL10 = D(2026, 7, 10)


def cond(pid="P1", kind="crop_failure", sev="medium", observed=AUG4, onset=AUG4):
    return Condition(pid, kind, sev, observed, onset, {"expected_ndvi": 0.8, "observed_ndvi": 0.4})


def as_open(changes):
    """The open-alert table the store would hold after ``changes``."""
    rows = [
        dict(
            alert_id=c.alert_id,
            parcel_id=c.parcel_id,
            kind=c.kind,
            severity=c.severity,
            status=c.status,
            first_detected=c.first_detected,
            last_observed=c.last_observed,
            onset=c.onset,
            evidence=c.evidence,
        )
        for c in changes
        if c.status != "resolved"
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "alert_id",
            "parcel_id",
            "kind",
            "severity",
            "status",
            "first_detected",
            "last_observed",
            "onset",
            "evidence",
        ],
    )


EMPTY = as_open([])


def test_apply_lifecycle__new_condition_opens_new_alert():
    (c,) = apply_lifecycle(EMPTY, [cond()], {"P1"}, as_of=D(2026, 8, 10))
    assert (c.status, c.action, c.first_detected, c.last_observed) == (
        "new",
        "open",
        "2026-08-04",
        "2026-08-04",
    )
    assert c.alert_id == alert_id("P1", "crop_failure", "2026-08-04")


def test_apply_lifecycle__open_then_ongoing_then_resolved():
    run1 = apply_lifecycle(EMPTY, [cond()], {"P1"}, as_of=D(2026, 8, 10))
    run2 = apply_lifecycle(
        as_open(run1), [cond(sev="high", observed=D(2026, 8, 20))], {"P1"}, as_of=D(2026, 8, 25)
    )
    (c2,) = run2
    assert (c2.status, c2.severity, c2.last_observed, c2.alert_id) == (
        "ongoing",
        "high",
        "2026-08-20",
        run1[0].alert_id,
    )
    (c3,) = apply_lifecycle(as_open(run2), [], {"P1"}, as_of=D(2026, 9, 10))
    assert (c3.status, c3.action, c3.alert_id) == ("resolved", "resolve", run1[0].alert_id)
    assert c3.evidence["resolved_as_of"] == "2026-09-10"


def test_apply_lifecycle__no_fresh_data_changes_nothing():
    run1 = apply_lifecycle(EMPTY, [cond()], {"P1"}, as_of=D(2026, 8, 10))
    assert apply_lifecycle(as_open(run1), [], set(), as_of=D(2026, 8, 25)) == []
    # fresh data for another kind of the parcel does not resolve this one
    assert apply_lifecycle(as_open(run1), [], {("P1", "drought")}, as_of=D(2026, 8, 25)) == []


def test_apply_lifecycle__ids_stable_and_distinct():
    assert alert_id("P1", "flood", D(2026, 7, 1)) == alert_id("P1", "flood", "2026-07-01")
    ids = {
        alert_id(p, k, d)
        for p in ("P1", "P2")
        for k in ("flood", "drought")
        for d in (D(2026, 7, 1), D(2026, 7, 2))
    }
    assert len(ids) == 8
    a = apply_lifecycle(EMPTY, [cond(), cond("P2", "flood")], {"P1", "P2"}, as_of=D(2026, 8, 10))
    b = apply_lifecycle(EMPTY, [cond("P2", "flood"), cond()], {"P1", "P2"}, as_of=D(2026, 8, 10))
    assert a == b


def test_apply_lifecycle__one_alert_per_parcel_and_kind_keeps_most_severe():
    (c,) = apply_lifecycle(
        EMPTY, [cond(sev="low"), cond(sev="high", onset=D(2026, 8, 6))], set(), as_of=D(2026, 8, 10)
    )
    assert c.severity == "high"


# ---------------------------------------------------------------- shared weather verdicts


def _weather(region_toml):
    """The sample region's station weather, with a July heat wave and a June frost added."""
    from agririsk.inputs import Report
    from agririsk.weather import read_station_daily, read_stations

    root = region_toml.parent
    stations = read_stations(root / "weather" / "stations.csv", Report())
    daily = read_station_daily(
        root / "weather" / "daily.csv", Report(), station_ids=stations["station_id"]
    )
    sids = sorted(daily["station_id"].unique())
    first = daily["station_id"] == sids[0]
    heat = first & daily["date"].between("2026-07-08", "2026-07-26")
    daily.loc[heat, "tmax_c"] += 12.0
    frost = (daily["station_id"] == sids[-1]) & daily["date"].between("2026-06-02", "2026-06-03")
    daily.loc[frost, "tmin_c"] = -3.5
    return daily, stations


def test_detect_weather__verdicts_spread_equal_the_per_parcel_station_conditions(
    sample_region_pristine,
):
    """Each parcel gets exactly what :func:`station_conditions` gives its station and crop
    (the per-parcel rule before verdicts), irrigated parcels no drought, in parcel order."""
    import numpy as np

    from agririsk.monitoring.weather_detectors import (
        detect_weather,
        station_conditions,
        weather_verdicts,
    )
    from agririsk.region import Season

    daily, stations = _weather(sample_region_pristine)
    rng = np.random.default_rng(4)
    n = 300
    pids = [f"P{i:04d}" for i in rng.permutation(n)]
    sids = list(stations["station_id"]) + ["NOSTATION"]
    parcel_station = pd.Series(rng.choice(sids, n), index=pids)
    crops = pd.Series(rng.choice(["maize", "soybean", "rice", "wheat", "tea"], n), index=pids)
    crops = crops.drop(pids[:5])  # no declared crop: "other"
    irrigated = set(rng.choice(pids, 40, replace=False).tolist())
    season = Season(D(2026, 4, 15), D(2026, 10, 15))
    lat = stations.set_index("station_id")["lat"]
    kinds = set()
    for as_of in (D(2026, 6, 4), D(2026, 7, 15), D(2026, 7, 24), D(2026, 8, 20), D(2026, 9, 30)):
        ref = []
        for pid, sid in parcel_station.items():
            days = daily[(daily["station_id"] == sid) & (daily["date"] <= pd.Timestamp(as_of))]
            crop = crops.get(pid, "other")
            for kind, sev, onset, last, ev in station_conditions(
                days, crop, as_of, float(lat.get(sid, 45.0))
            ):
                if kind == "drought" and pid in irrigated:
                    continue
                ref.append(
                    Condition(pid, kind, sev, last.date(), onset.date(), dict(ev, station_id=sid))
                )
        verdicts = weather_verdicts(
            daily, stations, parcel_station, crops, season, as_of, not_water_limited=irrigated
        )
        got = detect_weather(verdicts, parcel_station.index)
        key = [(c.parcel_id, c.kind, c.severity, c.observed, c.onset, c.evidence) for c in got]
        assert key == [
            (c.parcel_id, c.kind, c.severity, c.observed, c.onset, c.evidence) for c in ref
        ]
        assert sum(len(v.parcels) for v in verdicts) == len(ref)
        assert len(verdicts) <= len(sids) * 6 * 3  # one per group and kind, not per parcel
        kinds |= {c.kind for c in ref}
    assert kinds == {"drought", "heat_stress", "frost"}


def _stored(linked=3, members=("P1", "P2", "P3"), last="2026-07-01", sev="medium"):
    from agririsk.monitoring.lifecycle import StoredVerdict, evidence_json, members_key

    ev = evidence_json({"ks_mean_14d": 0.5, "station_id": "S1"})
    return StoredVerdict(sev, last, ev, 4, None, members_key(np.asarray(members)), linked)


def _verdict(parcels=("P1", "P2", "P3"), sev="high", observed=JUL10):
    from agririsk.monitoring.weather_detectors import Verdict

    ev = {"ks_mean_14d": 0.4, "station_id": "S1"}
    return Verdict("drought", "S1", "maize", sev, observed, D(2026, 6, 20), ev, np.asarray(parcels))


def test_plan_verdicts__one_step_only_when_the_group_is_unchanged():
    from agririsk.monitoring.lifecycle import plan_verdicts

    key = "drought|S1|maize"
    groups = {key: np.asarray(["P1", "P2", "P3"])}
    # condition holds, same parcels, all following: one update of the verdict
    plan = plan_verdicts({key: _stored()}, [_verdict()], groups, weather_fresh=True)
    ((v, last, changed),) = plan.keep
    assert (v.key, last, changed) == (key, "2026-07-10", True)
    assert plan.expand == plan.unlink == plan.resolve == []
    # condition gone with new weather: resolved together; without new weather: nothing
    assert plan_verdicts({key: _stored()}, [], groups, weather_fresh=True).resolve == [key]
    idle = plan_verdicts({key: _stored()}, [], groups, weather_fresh=False)
    assert idle.resolve == idle.unlink == idle.keep == []
    # a parcel joined the group (or one of its alerts follows nothing): alert by alert
    bigger = {key: np.asarray(["P1", "P2", "P3", "P4"])}
    plan = plan_verdicts({key: _stored()}, [_verdict(bigger[key])], bigger, weather_fresh=True)
    assert plan.unlink == [key] and [v.key for v in plan.expand] == [key]
    assert {c.parcel_id for c in plan.conditions()} == {"P1", "P2", "P3", "P4"}
    plan = plan_verdicts({key: _stored(linked=2)}, [_verdict()], groups, weather_fresh=True)
    assert plan.unlink == [key] and len(plan.conditions()) == 3
    # the group changed while its condition is gone: judged alert by alert, even without weather
    assert plan_verdicts({key: _stored()}, [], bigger, weather_fresh=False).unlink == [key]
    # a new episode: expanded; a stored verdict nothing follows: dropped
    plan = plan_verdicts({key: _stored(linked=0)}, [_verdict()], groups, weather_fresh=True)
    assert plan.drop == [key] and [v.key for v in plan.expand] == [key]
