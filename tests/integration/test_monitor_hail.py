"""Hail → ``crop_failure`` through the 2026 season of a sample region that has hail.

Seed 4, 250 parcels, 5.12 km: one hail storm on 2026-07-29 (doy 210) hits 12 parcels
(maize, soybean, rice) in the middle of grain fill. The region is monitored every 15 days
from April 20 to October 31, as cron would, and the alerts are checked against
``truth/parcel_seasons.csv``. Run with ``-s`` to see the figures.

Hail is a ``crop_failure``, not a ``vegetation_decline``: the canopy falls within days to
~30 % of its green amplitude (docs/sample-region.md §3) and the yield loss is already
done, which is what the bank must act on (insurance claim, visit). ``vegetation_decline``
is for a gradual under-performance (drought, poor stand) that the season may still
correct.
"""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from agririsk.monitoring import monitor_region, read_alerts
from agririsk.monitoring.detectors import MIN_CLEAR
from agririsk.region import Region
from agririsk.testing import clear_dates

pytestmark = pytest.mark.slow  # ~40 s: generating the region is most of it

AS_OF = [d.date() for d in pd.date_range("2026-04-20", "2026-10-31", freq="15D")]
DAMAGE_KINDS = {"crop_failure", "flood", "no_emergence", "early_harvest"}


@pytest.fixture(scope="module")
def hail_season(tmp_path_factory):
    """The region, its 2026 truth, the alerts and each run's opened alerts."""
    from agririsk.sample import make_sample_region

    root = tmp_path_factory.mktemp("monitor_hail") / "region"
    toml = make_sample_region(root, seed=4, n_parcels=250, size=512)
    region = Region.from_toml(toml)
    db = root.parent / "monitor.sqlite"
    for d in AS_OF:
        monitor_region(region, db=db, as_of=d, workers=2, crop_check=False)
    truth = pd.read_csv(root / "truth" / "parcel_seasons.csv", dtype={"parcel_id": str})
    truth = truth[truth["season"] == 2026].set_index("parcel_id")
    con = sqlite3.connect(db)
    try:  # opened_as_of: the run that opened the alert (not a CONTRACTS column)
        opened = pd.read_sql_query("SELECT alert_id, opened_as_of FROM alerts", con)
    finally:
        con.close()
    alerts = read_alerts(db).merge(opened, on="alert_id", how="left")
    return region, alerts, truth


def test_monitor_hail__hit_parcels_get_crop_failure(hail_season):
    region, alerts, truth = hail_season
    hail = set(truth.index[truth["event"] == "hail"])
    assert len(hail) >= 10  # the region is chosen for its 2026 hail
    same_crop = set(truth.index[truth["crop_mismatch"] == 0])
    failure = alerts[alerts["kind"] == "crop_failure"]
    raised = set(failure["parcel_id"]) & same_crop
    hits = hail & set(failure["parcel_id"])
    recall = len(hits) / len(hail)
    precision = len(raised & hail) / len(raised)
    print(
        f"\nhail: {len(hail)} parcels hit on {sorted(set(truth.loc[sorted(hail), 'event_date']))}; "
        f"crop_failure on {len(raised)} parcels (declared crop grown), {len(hits)} of them hail: "
        f"recall {recall:.2f}, precision {precision:.2f}; missed "
        f"{truth.loc[sorted(hail - hits), 'true_crop'].to_dict()}; "
        f"other crop_failure: {truth.loc[sorted(raised - hail), 'event'].to_dict()}"
    )
    assert recall >= 0.85
    assert precision >= 0.85


def test_monitor_hail__first_detection_by_second_clear_view(hail_season):
    """Opened no later than the first run after the first clear view after the event + one."""
    region, alerts, truth = hail_season
    clear = clear_dates(region, AS_OF[-1], year=2026, min_clear=MIN_CLEAR)
    failure = alerts[alerts["kind"] == "crop_failure"]
    delays = []
    for pid in sorted(set(truth.index[truth["event"] == "hail"]) & set(failure["parcel_id"])):
        event_day = pd.Timestamp(truth.loc[pid, "event_date"])
        after = clear.loc[(clear["parcel_id"] == pid) & (clear["date"] > event_day), "date"]
        after = after.sort_values()
        bound = after.iloc[1] if len(after) > 1 else pd.Timestamp(AS_OF[-1])
        bound_run = min(pd.Timestamp(d) for d in AS_OF if pd.Timestamp(d) >= bound)
        first_run = pd.Timestamp(failure.loc[failure["parcel_id"] == pid, "opened_as_of"].min())
        delays.append((pid, (first_run - event_day).days, (bound_run - event_day).days))
        assert first_run <= bound_run, (pid, first_run, bound_run)
    print(f"\nhail → crop_failure, (parcel, run date - event, bound) in days: {delays}")


def test_monitor_hail__normal_harvests_raise_no_alert(hail_season):
    region, alerts, truth = hail_season
    normal = truth.index[(truth["event"] == "none") & (truth["crop_mismatch"] == 0)]
    false = alerts[alerts["kind"].isin(DAMAGE_KINDS) & alerts["parcel_id"].isin(normal)]
    print(
        f"\ndamage alerts on event-free parcels: {false['parcel_id'].nunique()} of {len(truth)}: "
        f"{false[['parcel_id', 'kind', 'first_detected']].values.tolist()}"
    )
    assert false["parcel_id"].nunique() < 0.02 * len(truth)
