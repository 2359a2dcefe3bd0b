"""agririsk monitor through the 2026 season of a sample region, as cron would run it.

One module-scoped region (seed 2, 250 parcels, 5.12 km: it has planted floods, early
harvests and fields never sown in 2026, and a dry May-June) is monitored every 15 days
from April 20 to October 31; the alerts are checked against ``truth/parcel_seasons.csv``.
Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from agririsk.errors import InputError
from agririsk.monitoring import monitor_region, read_alerts, read_farmer_risk, read_runs
from agririsk.monitoring.detectors import MIN_CLEAR
from agririsk.region import Region
from agririsk.testing import clear_dates

AS_OF = [d.date() for d in pd.date_range("2026-04-20", "2026-10-31", freq="15D")]
#: truth event → the alert kinds that report it
EVENT_KINDS = {
    "hail": {"crop_failure", "vegetation_decline"},
    "flood": {"flood"},
    "no_emergence": {"no_emergence"},
    "early_harvest": {"early_harvest"},
}
DAMAGE_KINDS = {"crop_failure", "flood", "no_emergence", "early_harvest"}


@pytest.fixture(scope="module")
def season_run(tmp_path_factory):
    """The region, its truth and the store after an uninterrupted season of runs."""
    from agririsk.sample import make_sample_region

    root = tmp_path_factory.mktemp("monitor") / "region"
    toml = make_sample_region(root, seed=2, n_parcels=250, size=512)
    region = Region.from_toml(toml)
    db = root.parent / "monitor.sqlite"
    summaries = [monitor_region(region, db=db, as_of=d, workers=2, crop_check=False) for d in AS_OF]
    truth = pd.read_csv(root / "truth" / "parcel_seasons.csv", dtype={"parcel_id": str})
    truth = truth[truth["season"] == 2026].set_index("parcel_id")
    return region, db, summaries, truth


def _alerts(db: Path) -> pd.DataFrame:
    con = sqlite3.connect(db)
    try:
        return pd.read_sql_query("SELECT * FROM alerts ORDER BY alert_id", con)
    finally:
        con.close()


def test_monitor__every_run_succeeds_and_is_recorded(season_run):
    region, db, summaries, truth = season_run
    runs = read_runs(db)
    assert len(runs) == len(AS_OF) and (runs["status"] == "ok").all()
    assert runs["items_read"].sum() == sum(s.items_read for s in summaries) > 0
    risk = read_farmer_risk(db)
    assert set(risk["risk_level"]) <= {"none", "watch", "elevated", "high"}
    assert {"name", "national_id", "phone"}.isdisjoint(risk.columns)
    # the risk per farmer follows the open alerts of the last run
    alerts = read_alerts(db)
    open_ = alerts[alerts["status"] != "resolved"]
    points = open_["severity"].map({"low": 1, "medium": 3, "high": 10}).groupby(open_["farmer_id"])
    got = risk.set_index("farmer_id")
    assert (
        got.loc[got["open_alerts"] > 0, "risk_points"].sort_index() == points.sum().sort_index()
    ).all()
    assert (got["open_alerts"] > 0).sum() == open_["farmer_id"].nunique()
    assert "monitor run" in summaries[-1].format()


def test_monitor__planted_events_detected(season_run):
    region, db, summaries, truth = season_run
    alerts = read_alerts(db)
    ok_crop = truth.index[truth["crop_mismatch"] == 0]
    clear = clear_dates(region, AS_OF[-1], year=2026, min_clear=MIN_CLEAR)
    print(
        "\nkind           truth  alerts  hits  recall  precision  delays (run date - event, days; bound)"
    )
    for event, kinds in EVENT_KINDS.items():
        hit_parcels = set(truth.index[truth["event"] == event])
        raised = alerts[alerts["kind"].isin(kinds) & alerts["parcel_id"].isin(ok_crop)]
        if (
            event == "hail"
        ):  # crop_failure / vegetation_decline also answer drought; precision on crop_failure
            raised = raised[raised["kind"] == "crop_failure"]
        hits = hit_parcels & set(alerts.loc[alerts["kind"].isin(kinds), "parcel_id"])
        recall = len(hits) / len(hit_parcels) if hit_parcels else float("nan")
        precision = raised["parcel_id"].isin(hit_parcels).mean() if len(raised) else float("nan")
        delays = []
        for pid in sorted(hits):
            event_day = pd.Timestamp(truth.loc[pid, "event_date"])
            first = alerts[(alerts["parcel_id"] == pid) & alerts["kind"].isin(kinds)]
            opened = _opened_as_of(db, first["alert_id"]).min()
            after = clear.loc[
                (clear["parcel_id"] == pid) & (clear["date"] > event_day), "date"
            ].sort_values()
            bound = after.iloc[1] if len(after) > 1 else pd.Timestamp(AS_OF[-1])
            bound_run = min(
                (pd.Timestamp(d) for d in AS_OF if pd.Timestamp(d) >= bound),
                default=pd.Timestamp(AS_OF[-1]),
            )
            delays.append(((opened - event_day).days, (bound_run - event_day).days))
            if (
                event != "no_emergence"
            ):  # not observable until peers are green (weeks after emergence)
                assert opened <= bound_run, (pid, event, opened, bound_run)
        print(
            f"{event:14s} {len(hit_parcels):5d}  {len(raised):6d}  {len(hits):4d}  {recall:6.2f}  {precision:9.2f}  {delays}"
        )
        if hit_parcels:
            assert recall >= 0.85, (event, recall)
        if len(raised) and event != "hail":
            assert precision >= 0.85, (event, precision)


def _opened_as_of(db: Path, ids: pd.Series) -> pd.Series:
    con = sqlite3.connect(db)
    try:
        got = pd.read_sql_query(
            f"SELECT opened_as_of FROM alerts WHERE alert_id IN ({','.join('?' * len(ids))})",
            con,
            params=list(ids),
        )
    finally:
        con.close()
    return pd.to_datetime(got["opened_as_of"])


def test_monitor__no_false_alarms_on_normal_harvests_and_paddies(season_run):
    region, db, summaries, truth = season_run
    alerts = read_alerts(db)
    normal = truth.index[(truth["event"] == "none") & (truth["crop_mismatch"] == 0)]
    false = alerts[alerts["kind"].isin(DAMAGE_KINDS) & alerts["parcel_id"].isin(normal)]
    rice = truth.index[(truth["true_crop"] == "rice") & (truth["event"] == "none")]
    paddy = alerts[alerts["parcel_id"].isin(rice) & (alerts["kind"] == "flood")]
    decline = alerts[(alerts["kind"] == "vegetation_decline") & alerts["parcel_id"].isin(normal)]
    print(
        f"\nfalse damage alerts on {false['parcel_id'].nunique()} of {len(truth)} parcels: "
        f"{false[['parcel_id', 'kind', 'first_detected']].values.tolist()}; flood alerts on normal paddies: {len(paddy)}; "
        f"vegetation_decline on event-free parcels: {decline['parcel_id'].nunique()} (median truth relative yield "
        f"{truth.loc[decline['parcel_id'].unique(), 'relative_yield'].median():.2f} vs "
        f"{truth.loc[normal, 'relative_yield'].median():.2f} of all event-free)"
    )
    assert false["parcel_id"].nunique() < 0.02 * len(truth)
    assert paddy.empty


def test_monitor__drought_on_the_parcels_it_hit(season_run):
    region, db, summaries, truth = season_run
    alerts = read_alerts(db)
    hit = set(truth.index[truth["ry_water"] < 0.95])
    raised = set(alerts.loc[alerts["kind"] == "drought", "parcel_id"])
    recall = len(hit & raised) / len(hit)
    precision = len(hit & raised) / len(raised)
    print(
        f"\ndrought: truth ry_water < 0.95 on {len(hit)} parcels, alerts on {len(raised)}: "
        f"recall {recall:.2f}, precision {precision:.2f}"
    )
    assert recall >= 0.85


def test_monitor__rerun_same_as_of_changes_nothing(season_run):
    region, db, summaries, truth = season_run
    before, runs_before = _alerts(db), len(read_runs(db))
    again = monitor_region(region, db=db, as_of=AS_OF[-1], crop_check=False)
    assert again.up_to_date and again.run_id is None
    pd.testing.assert_frame_equal(_alerts(db), before)
    assert len(read_runs(db)) == runs_before


_CLI = (
    "import argparse, sys\n"
    "from agririsk.monitoring.cli import add_parser, run\n"
    "p = argparse.ArgumentParser(); add_parser(p.add_subparsers())\n"
    "sys.exit(run(p.parse_args(sys.argv[1:])))\n"
)


@pytest.mark.slow
def test_monitor__killed_runs_leave_no_trace(season_run, tmp_path):
    """SIGKILL the monitor at random moments; the finished store equals the uninterrupted one."""
    region, db_ref, summaries, truth = season_run
    db = tmp_path / "crash.sqlite"
    rng = random.Random(7)
    kills = 0
    for i, as_of in enumerate(AS_OF):
        if i in (2, 4, 6, 8, 10, 12):
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _CLI,
                    "monitor",
                    str(region.path),
                    "--db",
                    str(db),
                    "--as-of",
                    as_of.isoformat(),
                    "--no-crop-check",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(0.3, 2.3))  # a run takes ~2 s: import, read, detect, commit
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
        monitor_region(region, db=db, as_of=as_of, crop_check=False)
    assert kills >= 3
    ours, ref = _alerts(db), _alerts(db_ref)
    pd.testing.assert_frame_equal(ours, ref)
    assert (read_runs(db)["status"] == "ok").all() and len(read_runs(db)) == len(AS_OF)


def test_monitor_cli__second_run_refused_while_locked(season_run, tmp_path, capsys):
    from agririsk.monitoring.cli import run
    from agririsk.monitoring.store import run_lock

    region, *_ = season_run
    db = tmp_path / "locked.sqlite"
    import argparse

    args = argparse.Namespace(
        region=region.path, db=db, as_of=dt.date(2026, 5, 1), workspace=None, workers=1, quiet=True
    )
    with run_lock(db):
        assert run(args) == 1
    assert "another monitoring run is in progress" in capsys.readouterr().err
    assert run(args) == 0
    assert "monitor run 1" in capsys.readouterr().out


def test_monitor__store_of_another_region_is_refused_untouched(season_run, tmp_path):
    import dataclasses

    region, db, *_ = season_run
    copy = tmp_path / "other.sqlite"
    shutil.copy(db, copy)
    before = copy.read_bytes()
    other = dataclasses.replace(region, name="Another county")
    with pytest.raises(InputError, match="monitoring store of region .* not of 'Another county'"):
        monitor_region(other, db=copy, as_of=dt.date(2026, 11, 1), crop_check=False)
    assert copy.read_bytes() == before


def test_monitor__fast_path_equals_cold_full_recomputation(season_run, tmp_path, monkeypatch):
    """Caches, the observation store, the numba kernel, the storms per station and judging
    only the parcels whose conditions can change give the same alerts as re-reading
    everything and judging every parcel with the Python detector, with the storms one row
    per parcel, at every run (a fresh workspace: only the per-item tables of the imagery
    are kept, to stay fast)."""
    from agririsk.monitoring import detectors
    from agririsk.monitoring import run as run_module

    region, db_ref, summaries, truth = season_run
    ws = tmp_path / "ws"
    shutil.copytree(region.default_workspace() / "items", ws / "items")
    monkeypatch.setattr(detectors, "HAVE_NUMBA", False)
    from agririsk.inputs import Report, read_parcels

    every = set(read_parcels(region.parcels_path, Report())["parcel_id"].astype(str))
    monkeypatch.setattr(run_module, "changed_parcels_obs", lambda *a, **k: set(every))
    # the storms one row per parcel (detectors.area_heavy_rain), not per station
    rain_inputs: list = []
    by_station = run_module.station_heavy_rain

    def keep_inputs(weather, stations, *a, **k):  # type: ignore[no-untyped-def]
        rain_inputs[:] = [weather, stations, *a]
        return by_station(weather, stations, *a, **k)

    def per_parcel(*a, heavy_rain=None, parcel_station=None, **k):  # type: ignore[no-untyped-def]
        if heavy_rain is not None:
            weather, stations, threshold = rain_inputs
            heavy_rain = detectors.area_heavy_rain(weather, stations, parcel_station, threshold)
        return detectors.detect_imagery_obs(*a, heavy_rain=heavy_rain, **k)

    monkeypatch.setattr(run_module, "station_heavy_rain", keep_inputs)
    monkeypatch.setattr(run_module, "detect_imagery_obs", per_parcel)
    db = tmp_path / "m.sqlite"
    cold = []
    for d in AS_OF:
        shutil.rmtree(ws / "monitor", ignore_errors=True)
        cold.append(monitor_region(region, db=db, as_of=d, workspace=ws, crop_check=False))
    pd.testing.assert_frame_equal(_alerts(db), _alerts(db_ref))
    pd.testing.assert_frame_equal(read_alerts(db), read_alerts(db_ref))
    assert [s.to_dict() for s in cold] == [s.to_dict() for s in summaries]


def test_monitor__judging_changed_parcels_equals_judging_every_parcel(
    season_run, tmp_path, monkeypatch
):
    """Daily runs through a dry July: judging only the parcels whose imagery conditions can
    have changed (and those with a ``new`` imagery alert) gives the same alerts, run
    summaries and farmer risk as judging every parcel at every run."""
    from agririsk.inputs import Report, read_parcels
    from agririsk.monitoring import run as run_module

    region, *_ = season_run
    days = [dt.date(2026, 7, 1)] + [dt.date(2026, 7, 15) + dt.timedelta(days=k) for k in range(6)]
    changed = tmp_path / "changed.sqlite"
    for d in days:
        monitor_region(region, db=changed, as_of=d, crop_check=False)
    every = set(read_parcels(region.parcels_path, Report())["parcel_id"].astype(str))
    monkeypatch.setattr(run_module, "changed_parcels_obs", lambda *a, **k: set(every))
    judged = tmp_path / "judged.sqlite"
    for d in days:
        monitor_region(region, db=judged, as_of=d, crop_check=False)
    pd.testing.assert_frame_equal(read_alerts(changed), read_alerts(judged))
    assert read_runs(changed)["summary"].tolist() == read_runs(judged)["summary"].tolist()
    pd.testing.assert_frame_equal(
        read_farmer_risk(changed).drop(columns="run_id"),
        read_farmer_risk(judged).drop(columns="run_id"),
    )


def test_monitor__failure_inside_the_transaction_rolls_back(season_run, tmp_path, monkeypatch):
    """A run that dies after writing alerts but before COMMIT leaves the store as it was."""
    from agririsk.monitoring import run as run_module

    region, db_ref, *_ = season_run
    db = tmp_path / "m.sqlite"
    for d in AS_OF[:8]:
        monitor_region(region, db=db, as_of=d, crop_check=False)
    before, runs_before = _alerts(db), read_runs(db)

    def boom(*args, **kwargs):
        raise RuntimeError("killed mid-transaction")

    monkeypatch.setattr(run_module, "_farmer_risk", boom)
    with pytest.raises(RuntimeError, match="mid-transaction"):
        monitor_region(region, db=db, as_of=AS_OF[8], crop_check=False)
    pd.testing.assert_frame_equal(_alerts(db), before)
    pd.testing.assert_frame_equal(read_runs(db), runs_before)
    monkeypatch.undo()
    for d in AS_OF[8:]:
        monitor_region(region, db=db, as_of=d, crop_check=False)
    pd.testing.assert_frame_equal(_alerts(db), _alerts(db_ref))


@pytest.mark.slow
def test_monitor__crop_check_raises_crop_mismatch_and_is_not_repeated(
    season_run, tmp_path, monkeypatch
):
    """The first run after the crop check date classifies the season once; the next run
    (15 days later) reuses the stored predictions: same crop_mismatch alerts, no new check."""
    import functools

    from agririsk.crop_models.croptype import CropTypeClassifier
    from agririsk.monitoring import crops as crop_mod
    from agririsk.monitoring.store import connect, get_meta

    region, db_ref, summaries, truth = season_run
    # a smaller forest keeps the test fast (the default 300 trees with confident learning
    # take minutes on a loaded machine); the wiring is what is checked here
    small = functools.partial(crop_mod.classify, estimator=CropTypeClassifier(n_estimators=60))
    monkeypatch.setattr(crop_mod, "classify", small)
    declared = truth["declared_crop"]
    first = crop_mod.first_check_date(declared, region.season)
    db = tmp_path / "crops.sqlite"
    monitor_region(region, db=db, as_of=first - dt.timedelta(days=1))  # not due yet
    con = connect(db)
    assert get_meta(con, "crop_check_as_of") is None
    con.close()
    monitor_region(region, db=db, as_of=first)
    later = first + dt.timedelta(days=15)
    monitor_region(region, db=db, as_of=later)
    con = connect(db)
    try:
        assert get_meta(con, "crop_check_as_of") == first.isoformat()
        n_pred = con.execute("SELECT COUNT(*) FROM crop_predictions").fetchone()[0]
    finally:
        con.close()
    assert n_pred >= 0.9 * len(truth)  # nearly every parcel has >= 6 clear views by then
    alerts = read_alerts(db)
    mismatch = alerts[alerts["kind"] == "crop_mismatch"]
    planted = set(truth.index[truth["crop_mismatch"] == 1])
    hits = set(mismatch["parcel_id"]) & planted
    print(
        f"\ncrop check on {first}: crop_mismatch on {mismatch['parcel_id'].nunique()} parcels, "
        f"{len(hits)} of the {len(planted)} planted"
    )
    assert set(mismatch["status"]) <= {"ongoing"}  # opened on `first`, kept on `later`
    # the wiring, not the classifier's quality (docs/monitoring.md has the figures): the
    # flagged parcels are far richer in planted mismatches than the region (10 of 250)
    assert len(hits) >= 3
    assert len(hits) / mismatch["parcel_id"].nunique() >= 0.3


@pytest.mark.slow
def test_monitor__shared_weather_verdicts_equal_alert_by_alert(season_run, tmp_path, monkeypatch):
    """Runs every 4 days through the dry summer, the farmers' irrigation and some declared
    crops changing half-way (weather groups gain and lose parcels): alerts that follow their
    group's shared verdict give the same alerts, run summaries and farmer risk as every
    weather alert judged on its own (no verdict followed)."""
    from collections import Counter

    import geopandas as gpd

    from agririsk.monitoring import run as run_module

    region, *_ = season_run
    root = tmp_path / "region"
    shutil.copytree(region.path.parent, root)
    copy = Region.from_toml(root / region.path.name)
    days = [d.date() for d in pd.date_range("2026-05-20", "2026-09-10", freq="4D")]
    half = len(days) // 2

    def change_groups() -> None:
        farmers = pd.read_csv(root / "farmers.csv", dtype=str, keep_default_na=False)
        flip = farmers.index[::3]
        farmers.loc[flip, "irrigated"] = farmers.loc[flip, "irrigated"].map(
            {"true": "false", "false": "true"}
        )
        farmers.to_csv(root / "farmers.csv", index=False)
        parcels = gpd.read_file(root / "parcels.gpkg")
        swap = parcels.index[::7]
        parcels.loc[swap, "declared_crop"] = (
            parcels.loc[swap, "declared_crop"]
            .map({"soybean": "maize", "maize": "soybean"})
            .fillna(parcels.loc[swap, "declared_crop"])
        )
        parcels.to_file(root / "parcels.gpkg", driver="GPKG")

    def season(db: Path) -> tuple[list[dict], int]:
        out, followed = [], 0
        for i, d in enumerate(days):
            if i == half:
                change_groups()
            out.append(monitor_region(copy, db=db, as_of=d, crop_check=False).to_dict())
            con = sqlite3.connect(db)
            n = "SELECT COUNT(*) FROM alert_rows WHERE verdict_id IS NOT NULL"
            followed = max(followed, con.execute(n).fetchone()[0])
            con.close()
        return out, followed

    steps = Counter()
    plan_verdicts = run_module.plan_verdicts

    def counted(*args, **kwargs):
        plan = plan_verdicts(*args, **kwargs)
        for step in ("keep", "resolve", "unlink", "expand"):
            steps[step] += len(getattr(plan, step))
        return plan

    monkeypatch.setattr(run_module, "plan_verdicts", counted)
    # after every run, counting every farmer again changes no row of farmer_risk: the run
    # counted again every farmer whose open alerts it changed (run._farmer_risk, touched)
    farmer_risk, recounted = run_module._farmer_risk, []

    def checked(con, run_id, farmer_ids, touched=None):
        farmer_risk(con, run_id, farmer_ids, touched)
        table = "SELECT * FROM farmer_risk ORDER BY farmer_id"
        after = con.execute(table).fetchall()
        con.execute("SAVEPOINT recount")
        farmer_risk(con, run_id, farmer_ids, None)
        recounted.append((touched is not None, con.execute(table).fetchall() == after))
        con.execute("ROLLBACK TO recount")
        con.execute("RELEASE recount")

    monkeypatch.setattr(run_module, "_farmer_risk", checked)
    backup = tmp_path / "pristine"
    shutil.copytree(root, backup, ignore=shutil.ignore_patterns(".agririsk"))
    shared, followed = season(tmp_path / "shared.sqlite")
    assert min(steps.values()) > 0, steps  # every step of the shared verdicts was taken
    for name in ("farmers.csv", "parcels.gpkg"):
        shutil.copy(backup / name, root / name)
    monkeypatch.setattr(run_module, "_links", lambda *a, **k: {})  # no alert follows a verdict
    alone, none = season(tmp_path / "alone.sqlite")
    assert followed > 100 and none == 0
    assert shared == alone
    assert recounted == [(True, True)] * (2 * len(days))
    pd.testing.assert_frame_equal(
        _alerts(tmp_path / "shared.sqlite"), _alerts(tmp_path / "alone.sqlite")
    )
    pd.testing.assert_frame_equal(
        read_farmer_risk(tmp_path / "shared.sqlite"), read_farmer_risk(tmp_path / "alone.sqlite")
    )
    assert (read_alerts(tmp_path / "shared.sqlite")["kind"] == "drought").sum() > 0
