"""One monitoring run: new imagery and weather → detectors → alert lifecycle, one transaction."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from agririsk.imagery import SceneItem, parcel_series
from agririsk.inputs import Report
from agririsk.monitoring import store
from agririsk.monitoring.detectors import (
    HEAVY_RAIN_MM,
    IMAGERY_KINDS,
    DataGap,
    changed_parcels,
    clear_observations,
    crop_mismatch_conditions,
    data_gaps,
    detect_imagery,
)
from agririsk.monitoring.lifecycle import AlertChange, apply_lifecycle
from agririsk.monitoring.weather_detectors import WEATHER_KINDS, detect_weather, heavy_rain_days
from agririsk.pipeline import load_inputs
from agririsk.region import Region

__all__ = ["RunSummary", "monitor_region", "SEVERITY_POINTS"]

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

#: points per open alert by severity in the post-loan risk table
SEVERITY_POINTS = {"low": 1, "medium": 3, "high": 10}


@dataclass
class RunSummary:
    """What one monitoring run did."""

    run_id: int | None
    as_of: dt.date
    items_read: int
    new: Counter = field(default_factory=Counter)
    ongoing: Counter = field(default_factory=Counter)
    resolved: Counter = field(default_factory=Counter)
    data_gaps: list[DataGap] = field(default_factory=list)
    up_to_date: bool = False

    def to_dict(self) -> dict:
        """JSON-ready form (stored in ``runs.summary``)."""

        def flat(c: Counter) -> dict[str, int]:
            return {f"{k}/{s}": n for (k, s), n in sorted(c.items())}

        return {
            "as_of": self.as_of.isoformat(),
            "items_read": self.items_read,
            "new": flat(self.new),
            "ongoing": flat(self.ongoing),
            "resolved": flat(self.resolved),
            "data_gaps": len(self.data_gaps),
        }

    def format(self) -> str:
        """Plain-text summary for the terminal."""
        if self.up_to_date:
            return (
                f"monitor: as of {self.as_of}: already monitored up to this date; nothing changed."
            )
        lines = [
            f"monitor run {self.run_id}: as of {self.as_of}, {self.items_read} new imagery items read"
        ]
        for name, c in (("new", self.new), ("ongoing", self.ongoing), ("resolved", self.resolved)):
            total = sum(c.values())
            detail = ", ".join(f"{k} {s} {n}" for (k, s), n in sorted(c.items()))
            lines.append(f"  {name:9s}{total:5d}" + (f"  ({detail})" if detail else ""))
        if self.data_gaps:
            worst = max(g.days for g in self.data_gaps)
            lines.append(
                f"  data gaps: {len(self.data_gaps)} parcels without a clear view for > 30 days (longest {worst} d)"
            )
        return "\n".join(lines)


def monitor_region(
    region: Region,
    *,
    db: str | Path | None = None,
    as_of: dt.date | None = None,
    workspace: str | Path | None = None,
    workers: int = 1,
    progress: Progress | None = None,
    report: Report | None = None,
    crop_predictions: pd.DataFrame | None = None,
) -> RunSummary:
    """One monitoring run of ``region``'s season up to ``as_of``.

    Parameters
    ----------
    region : the region; its ``[season]`` is monitored.
    db : the store (default ``workspace/monitor.sqlite``).
    as_of : the run date (default today); no imagery or weather after it is read. A date
        not after the last successful run's changes nothing.
    workspace : per-item cache (default ``.agririsk/`` beside region.toml).
    workers : processes reducing new imagery items.
    progress : ``progress(done, total)`` over the season's items (cached ones are instant).
    report : collects input problems.
    crop_predictions : hook for crop identification (``parcel_id, crop, probability,
        date``); ``crop_mismatch`` alerts come from it.

    Raises
    ------
    MonitorLockedError
        Another run holds the store's lock.
    """
    as_of = as_of or dt.date.today()
    workspace = Path(workspace) if workspace else region.default_workspace()
    db = Path(db) if db else workspace / "monitor.sqlite"
    report = report if report is not None else Report()
    season = region.season
    with store.run_lock(db):
        con = store.connect(db)
        try:
            last = store.last_successful_run(con)
            last_as_of = dt.date.fromisoformat(last["as_of"]) if last else None
            if last_as_of is not None and as_of <= last_as_of:
                logger.info(
                    "as of %s: store already monitored up to %s; nothing to do", as_of, last_as_of
                )
                return RunSummary(None, as_of, 0, up_to_date=True)
            started = store.now_iso()
            inputs = load_inputs(region, until=as_of, report=report)
            first = pd.Timestamp(season.start) - pd.Timedelta(days=15)
            items = [it for it in inputs.items if pd.Timestamp(_day(it)) >= first]
            seen = {r[0] for r in con.execute("SELECT item_id FROM items_seen")}
            new_items = [it for it in items if it.id not in seen]
            parcels = inputs.parcels
            series = (
                parcel_series(
                    items, parcels, workspace, workers=workers, progress=progress, report=report
                )
                if items
                else pd.DataFrame()
            )
            crops = parcels.set_index("parcel_id")["declared_crop"].astype(str)
            weather, stations, parcel_station = _weather(region, parcels, as_of, report)
            heavy = (
                heavy_rain_days(weather, parcel_station, HEAVY_RAIN_MM)
                if not weather.empty
                else None
            )
            judged = None  # first run: every parcel; later: those whose conditions can change
            if last_as_of is not None and not series.empty:
                judged = changed_parcels(
                    series, [it.id for it in new_items], season, as_of, last_as_of
                ) | store.open_alert_parcels(con, IMAGERY_KINDS)
            conditions = (
                detect_imagery(series, crops, season, as_of, heavy_rain=heavy, parcels=judged)
                if not series.empty
                else []
            )
            conditions += detect_weather(
                weather,
                stations,
                parcel_station,
                crops,
                season,
                as_of,
                not_water_limited=_irrigated_parcels(parcels, inputs.farmers),
            )
            conditions += crop_mismatch_conditions(crop_predictions, crops, as_of)
            fresh = _fresh(series, weather, parcels, season, as_of, last_as_of)
            gaps = (
                data_gaps(series, parcels["parcel_id"], season, as_of)
                if season.start <= as_of
                else []
            )
            summary = RunSummary(None, as_of, len(new_items), data_gaps=gaps)
            farmer_of = parcels.set_index("parcel_id")["farmer_id"].astype(str)
            con.execute("BEGIN IMMEDIATE")
            try:
                changes = apply_lifecycle(store.open_alerts(con), conditions, fresh, as_of=as_of)
                cur = con.execute(
                    "INSERT INTO runs (started, as_of, items_read, status) VALUES (?, ?, ?, 'running')",
                    (started, as_of.isoformat(), len(new_items)),
                )
                run_id = int(cur.lastrowid or 0)
                summary.run_id = run_id
                _write_changes(con, changes, farmer_of, as_of, run_id, summary)
                con.executemany(
                    "INSERT OR IGNORE INTO items_seen (item_id, run_id) VALUES (?, ?)",
                    [(it.id, run_id) for it in new_items],
                )
                _farmer_risk(con, run_id, inputs.farmers["farmer_id"].astype(str))
                con.execute(
                    "UPDATE runs SET finished = ?, status = 'ok', summary = ? WHERE run_id = ?",
                    (store.now_iso(), json.dumps(summary.to_dict()), run_id),
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.close()
    logger.info(
        "monitor run %s as of %s: %d new, %d ongoing, %d resolved",
        summary.run_id,
        as_of,
        sum(summary.new.values()),
        sum(summary.ongoing.values()),
        sum(summary.resolved.values()),
    )
    return summary


def _irrigated_parcels(parcels: gpd.GeoDataFrame, farmers: pd.DataFrame) -> set[str]:
    """Parcels of farmers marked ``irrigated`` (never water-limited: no drought alert)."""
    if "irrigated" not in farmers.columns:
        return set()
    flag = farmers["irrigated"].astype("boolean").fillna(False).astype(bool)
    owners = set(farmers.loc[flag, "farmer_id"].astype(str))
    return set(parcels.loc[parcels["farmer_id"].astype(str).isin(owners), "parcel_id"].astype(str))


def _day(item: SceneItem) -> dt.date:
    t = pd.Timestamp(item.datetime)
    return (t.tz_convert(None) if t.tzinfo else t).date()


def _write_changes(
    con: sqlite3.Connection,
    changes: list[AlertChange],
    farmer_of: pd.Series,
    as_of: dt.date,
    run_id: int,
    summary: RunSummary,
) -> None:
    for c in changes:
        ev = json.dumps(c.evidence, sort_keys=True)
        key = (c.kind, c.severity)
        if c.action == "open":
            summary.new[key] += 1
            con.execute(
                "INSERT INTO alerts (alert_id, parcel_id, farmer_id, kind, severity, status, first_detected, "
                "last_observed, onset, opened_as_of, updated_run, evidence) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT(alert_id) DO UPDATE SET status = 'ongoing', severity = excluded.severity, "
                "last_observed = excluded.last_observed, updated_run = excluded.updated_run, evidence = excluded.evidence",
                (
                    c.alert_id,
                    c.parcel_id,
                    farmer_of.get(c.parcel_id),
                    c.kind,
                    c.severity,
                    c.status,
                    c.first_detected,
                    c.last_observed,
                    c.onset,
                    as_of.isoformat(),
                    run_id,
                    ev,
                ),
            )
        else:
            (summary.ongoing if c.action == "update" else summary.resolved)[key] += 1
            con.execute(
                "UPDATE alerts SET status = ?, severity = ?, last_observed = ?, updated_run = ?, evidence = ? "
                "WHERE alert_id = ?",
                (c.status, c.severity, c.last_observed, run_id, ev, c.alert_id),
            )


def _farmer_risk(con: sqlite3.Connection, run_id: int, farmer_ids: pd.Series) -> None:
    """Open alerts per farmer → points (low 1, medium 3, high 10) → level none/watch/elevated/high."""
    rows = con.execute(
        "SELECT farmer_id, severity, COUNT(*) FROM alerts WHERE status IN ('new','ongoing') "
        "GROUP BY farmer_id, severity"
    ).fetchall()
    counts: dict[str, Counter] = {f: Counter() for f in farmer_ids}
    for f, sev, n in rows:
        counts.setdefault(str(f), Counter())[sev] += n
    con.execute("DELETE FROM farmer_risk")
    out = []
    for f, c in sorted(counts.items()):
        pts = sum(SEVERITY_POINTS[s] * n for s, n in c.items())
        level = (
            "high" if pts >= 10 else ("elevated" if pts >= 3 else ("watch" if pts > 0 else "none"))
        )
        out.append((f, run_id, sum(c.values()), c["high"], c["medium"], c["low"], pts, level))
    con.executemany("INSERT INTO farmer_risk VALUES (?,?,?,?,?,?,?,?)", out)


def _fresh(
    series: pd.DataFrame,
    weather: pd.DataFrame,
    parcels: gpd.GeoDataFrame,
    season,
    as_of: dt.date,
    last_as_of: dt.date | None,
) -> set[tuple[str, str]]:
    """(parcel, kind) pairs with data newer than the last run: a clear view, or weather days."""
    since = pd.Timestamp(last_as_of) if last_as_of else pd.Timestamp.min
    out: set[tuple[str, str]] = set()
    if not series.empty:
        obs = clear_observations(series, season, as_of)
        for pid in obs.loc[obs["date"] > since, "parcel_id"].unique():
            out.update((str(pid), k) for k in IMAGERY_KINDS)
    if not weather.empty and (weather["date"] > since).any():
        for pid in parcels["parcel_id"].astype(str):
            out.update((pid, k) for k in WEATHER_KINDS)
    return out


def _weather(
    region: Region, parcels: gpd.GeoDataFrame, as_of: dt.date, report: Report
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Station daily weather up to ``as_of`` and each parcel's nearest station."""
    from agririsk.weather import read_station_daily, read_stations

    empty = (
        pd.DataFrame(columns=["station_id", "date", "tmin_c", "tmax_c", "precip_mm"]),
        pd.DataFrame(columns=["station_id", "lat", "lon"]),
        pd.Series(dtype=str),
    )
    if region.weather_stations is None or region.weather_observations is None:
        logger.info("no station weather in %s: weather detectors skipped", region.path)
        return empty
    stations = read_stations(region.weather_stations, report)
    daily = read_station_daily(
        region.weather_observations, report, station_ids=stations["station_id"]
    )
    daily = daily[daily["date"] <= pd.Timestamp(as_of)]
    cent = parcels.to_crs(4326).geometry.representative_point()
    lat0 = cent.y.to_numpy()[:, None]
    d2 = (lat0 - stations["lat"].to_numpy()[None, :]) ** 2 + (
        (cent.x.to_numpy()[:, None] - stations["lon"].to_numpy()[None, :]) * 0.7
    ) ** 2
    nearest = stations["station_id"].to_numpy()[d2.argmin(axis=1)]
    return daily, stations, pd.Series(nearest, index=parcels["parcel_id"].astype(str).to_numpy())
