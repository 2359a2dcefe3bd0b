"""One monitoring run: new imagery and weather → detectors → alert lifecycle, one transaction."""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from agririsk.errors import InputError
from agririsk.imagery import SceneItem
from agririsk.inputs import Report
from agririsk.monitoring import cache, store
from agririsk.monitoring.detectors import (
    HEAVY_RAIN_MM,
    IMAGERY_KINDS,
    MIN_CLEAR,
    DataGap,
    changed_parcels_obs,
    clear_observations,
    crop_mismatch_conditions,
    data_gaps_obs,
    detect_imagery_obs,
    peer_groups,
    station_heavy_rain,
    window_start,
)
from agririsk.monitoring.lifecycle import (
    AlertChange,
    StoredVerdict,
    VerdictPlan,
    apply_lifecycle,
    evidence_json,
    members_key,
    plan_verdicts,
)
from agririsk.monitoring.weather_detectors import (
    WEATHER_KINDS,
    Verdict,
    weather_groups,
    weather_verdicts,
)
from agririsk.parallel import Parallel
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
    #: seconds per phase of the run (inputs, imagery, weather, detectors, store)
    timings: dict[str, float] = field(default_factory=dict)
    #: CPU seconds of this process per phase (the same phases; a shared machine's load
    #: moves the wall-clock ones)
    cpu_timings: dict[str, float] = field(default_factory=dict)

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
    workers: int | Parallel = 1,
    progress: Progress | None = None,
    report: Report | None = None,
    crop_predictions: pd.DataFrame | None = None,
    crop_check: bool = True,
) -> RunSummary:
    """One monitoring run of ``region``'s season up to ``as_of``.

    Parameters
    ----------
    region : the region; its ``[season]`` is monitored.
    db : the store (default ``workspace/monitor.sqlite``).
    as_of : the run date (default today); no imagery or weather after it is read. A date
        not after the last successful run's changes nothing.
    workspace : per-item cache (default ``.agririsk/`` beside region.toml).
    workers : processes reducing new imagery items, or a :class:`~agririsk.parallel.Parallel`
        (e.g. a Dask cluster).
    progress : ``progress(done, total)`` over the season's items (cached ones are instant).
    report : collects input problems.
    crop_predictions : predicted crops (``parcel_id, crop, probability, date``) to raise
        ``crop_mismatch`` alerts from, instead of the run's own crop check.
    crop_check : classify the season's crops against the declarations when due (from
        30 days after the latest declared crop's calendar peak, then every 30 days; see
        :mod:`agririsk.monitoring.crops`) and raise ``crop_mismatch`` alerts from the
        latest check. False: no crop check, no ``crop_mismatch`` alerts (unless
        ``crop_predictions`` is given).

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
    with store.run_lock(db), _full_collections_deferred():
        con = store.connect(db)
        try:
            owner = store.get_meta(con, "region")
            if owner is not None and owner != region.name:
                raise InputError(
                    f"{db} is the monitoring store of region '{owner}', not of '{region.name}': "
                    "the alerts of two regions must not mix. Give this region its own --db "
                    "(or leave --db out to use monitor.sqlite in its workspace)."
                )
            last = store.last_successful_run(con)
            last_as_of = dt.date.fromisoformat(last["as_of"]) if last else None
            if last_as_of is not None and as_of <= last_as_of:
                logger.info(
                    "as of %s: store already monitored up to %s; nothing to do", as_of, last_as_of
                )
                return RunSummary(None, as_of, 0, up_to_date=True)
            started = store.now_iso()
            times: dict[str, float] = {}
            cpu: dict[str, float] = {}
            tick, cpu_tick = time.perf_counter(), time.process_time()

            def lap(name: str) -> None:
                nonlocal tick, cpu_tick
                now, cpu_now = time.perf_counter(), time.process_time()
                times[name], cpu[name] = now - tick, cpu_now - cpu_tick
                tick, cpu_tick = now, cpu_now

            until = pd.Timestamp(as_of, tz="UTC") + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
            reg, all_items = cache.region_inputs(region, workspace, until, report)
            parcels, farmers = reg.parcels, reg.farmers
            first = window_start(season)  # the season's items: its window's
            items = [it for it in all_items if pd.Timestamp(_day(it)) >= first]
            seen = {r[0] for r in con.execute("SELECT item_id FROM items_seen")}
            new_items = [it for it in items if it.id not in seen]
            lap("inputs")
            series = (
                cache.season_observations(
                    items,
                    reg.parcel_set() if new_items else parcels,
                    reg.parcels_key,
                    workspace,
                    season,
                    min_clear=MIN_CLEAR,
                    workers=workers,
                    progress=progress,
                    report=report,
                )
                if items and len(parcels)
                else pd.DataFrame()
            )
            lap("imagery")
            # parcel ids as codes: the steps below factorize them again (cheaply)
            obs = clear_observations(series, season, as_of, categorical=True)
            crops = parcels.set_index("parcel_id")["declared_crop"].astype(str)
            weather, stations, parcel_station = cache.station_weather(
                region, workspace, parcels, report
            )
            if not weather.empty:
                weather = weather[weather["date"] <= pd.Timestamp(as_of)]
            heavy = (
                # storms at the parcel's station or one within 30 km name a flood; per
                # station (a parcel takes its station's): ~30 rows, not ~200,000
                station_heavy_rain(weather, stations, HEAVY_RAIN_MM) if not weather.empty else None
            )
            lap("weather")
            # first run: every parcel; later only those whose imagery conditions can have
            # changed since the last run, and those with a ``new`` imagery alert (it turns
            # ongoing when its condition holds): the others' conditions are the last
            # run's, so their open imagery alerts stay as they are
            judged = None
            if last_as_of is not None and not obs.empty:
                new_days = {pd.Timestamp(_day(it)) for it in new_items}
                judged = changed_parcels_obs(
                    obs, new_days, as_of, last_as_of
                ) | store.open_alert_parcels(con, IMAGERY_KINDS, statuses=("new",))
            # the peers' reference per crop and date, kept: only a new item's date is computed
            # (the groups of the views once, for the table and the detectors)
            by_peers = peer_groups(obs, crops) if not obs.empty else None
            peers = (
                cache.peer_table(
                    obs,
                    crops,
                    workspace,
                    reg.parcels_key,
                    season,
                    min_clear=MIN_CLEAR,
                    groups=by_peers,
                )
                if not obs.empty
                else None
            )
            conditions = detect_imagery_obs(
                obs,
                crops,
                season,
                as_of,
                heavy_rain=heavy,
                parcels=judged,
                peers=peers,
                parcel_station=parcel_station,
                groups=by_peers,
            )
            lap("detect_imagery")
            irrigated = _irrigated_parcels(parcels, farmers)
            groups = weather_groups(parcel_station, crops, irrigated)
            verdicts = weather_verdicts(
                weather,
                stations,
                parcel_station,
                crops,
                season,
                as_of,
                not_water_limited=irrigated,
                groups=groups,
            )
            lap("detect_weather")
            predictions, checked = crop_predictions, None
            if predictions is None and crop_check:
                predictions, checked = _crop_check(
                    con,
                    items,
                    parcels,
                    crops,
                    workspace,
                    season,
                    as_of,
                    report,
                    workers,
                    past_items=all_items,
                )
            conditions += crop_mismatch_conditions(predictions, crops, as_of)
            lap("crop_check")
            latest = _latest_views(obs)
            fresh = _fresh(latest, weather, parcels, last_as_of)
            if checked is not None:  # a new check can resolve an earlier mismatch
                fresh.crop = set(map(str, checked["parcel_id"].tolist()))
            # a parcel's gap runs from its latest clear view: the latest views stand for obs
            last_views = pd.DataFrame({"parcel_id": latest.index, "date": latest.to_numpy()})
            gaps = (
                data_gaps_obs(last_views, parcels["parcel_id"], season, as_of)
                if season.start <= as_of
                else []
            )
            lap("fresh_gaps")
            summary = RunSummary(None, as_of, len(new_items), data_gaps=gaps)
            farmer_of = parcels.set_index("parcel_id")["farmer_id"].astype(str)
            con.execute("BEGIN IMMEDIATE")
            try:
                cur = con.execute(
                    "INSERT INTO runs (started, as_of, items_read, status) VALUES (?, ?, ?, 'running')",
                    (started, as_of.isoformat(), len(new_items)),
                )
                run_id = int(cur.lastrowid or 0)
                summary.run_id = run_id
                stored = {k: StoredVerdict(*v) for k, v in store.read_verdicts(con).items()}
                plan = plan_verdicts(stored, verdicts, groups, weather_fresh=bool(fresh.weather))
                _apply_verdicts(con, plan, stored, run_id, as_of, summary)
                # the alerts that follow no verdict (now), one by one
                before = store.open_alerts(con, decode=False, shared=False)
                live, standing = _unjudged(before, judged, latest)
                changes = apply_lifecycle(live, conditions + plan.conditions(), fresh, as_of=as_of)
                summary.ongoing.update(standing)
                links = _links(changes, plan.expand)
                _write_changes(con, changes, farmer_of, as_of, run_id, summary, before, links)
                _store_verdicts(con, plan.expand, links)
                con.executemany(
                    "INSERT OR IGNORE INTO items_seen (item_id, run_id) VALUES (?, ?)",
                    [(it.id, run_id) for it in new_items],
                )
                # the farmers whose open alerts this run can have changed: those of the rows
                # it wrote, of the rows it linked to a verdict, and of the alerts following a
                # verdict whose severity it changed
                regraded = [v.key for v, _, _ in plan.keep if v.severity != stored[v.key].severity]
                touched = (regraded, list(links))
                _farmer_risk(con, run_id, farmers["farmer_id"].astype(str), touched)
                if checked is not None:
                    con.execute("DELETE FROM crop_predictions")
                    con.executemany(
                        "INSERT INTO crop_predictions VALUES (?,?,?,?,?)",
                        [
                            (str(p), str(c), float(q), pd.Timestamp(d).date().isoformat(), run_id)
                            for p, c, q, d in zip(
                                checked["parcel_id"],
                                checked["crop"],
                                checked["probability"],
                                checked["date"],
                                strict=True,
                            )
                        ],
                    )
                    store.set_meta(con, "crop_check_as_of", as_of.isoformat())
                store.set_meta(con, "region", region.name)
                con.execute(
                    "UPDATE runs SET finished = ?, status = 'ok', summary = ? WHERE run_id = ?",
                    (store.now_iso(), json.dumps(summary.to_dict()), run_id),
                )
                con.execute("COMMIT")
                lap("store")
                summary.timings, summary.cpu_timings = times, cpu
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


@contextmanager
def _full_collections_deferred() -> Iterator[None]:
    """Python's full (oldest-generation) cyclic collections wait until the run ends.

    A full collection walks every container object of the process (a 20,000-parcel
    region's inputs, pandas and numpy internals: 0.1-0.2 s at load 1, more under load)
    and the run's own allocations trigger one in about one run of three, whatever the run
    finds. Young collections still run, so cycles that die young are still freed; what
    waits is only the garbage that survived two collections during the run, freed by the
    first full collection after it (or at the exit of a cron run's process). The
    threshold is global to the process and restored even when the run fails.
    """
    t0, t1, t2 = gc.get_threshold()
    gc.set_threshold(t0, t1, max(t2, 1_000_000))
    try:
        yield
    finally:
        gc.set_threshold(t0, t1, t2)


def _latest_views(obs: pd.DataFrame) -> pd.Series:
    """Each parcel's latest clear view (``date`` by ``parcel_id``).

    ``obs``: :func:`~agririsk.monitoring.detectors.clear_observations`, sorted by parcel and
    date, so a parcel's latest view is the last row of its block (parcel codes, not a
    search over the Arrow strings: 50 ms for 1,000 parcels at 180,000 views).
    """
    if obs.empty:
        return pd.Series(dtype="datetime64[ns]", index=pd.Index([], dtype=str))
    codes, uniques = pd.factorize(obs["parcel_id"], sort=False)
    last = np.flatnonzero(np.r_[codes[1:] != codes[:-1], True])
    return pd.Series(obs["date"].to_numpy()[last], index=pd.Index(uniques).astype(str))


def _unjudged(
    before: pd.DataFrame, judged: set[str] | None, latest: pd.Series
) -> tuple[pd.DataFrame, Counter]:
    """(the open alerts the lifecycle sees, the standing ones counted as ongoing).

    Open imagery alerts of parcels not judged this run keep their state (they are
    ``ongoing``: parcels with a ``new`` one are judged): their conditions are those of
    the last run and they have no clear view since. Those whose
    ``last_observed`` is the parcel's latest clear view (the condition stood at that view)
    count as ongoing in the summary by (kind, severity), as if judged.
    """
    if judged is None or before.empty:
        return before, Counter()
    # plain set lookups: pandas' isin on Arrow strings took 61 ms at 16,600 open alerts
    kinds, pids = before["kind"].tolist(), before["parcel_id"].astype(str).tolist()
    skip = pd.Series(
        [k in IMAGERY_KINDS and p not in judged for k, p in zip(kinds, pids, strict=True)],
        index=before.index,
        dtype=bool,
    )
    if not skip.any():
        return before, Counter()
    held = before[skip]
    at = latest.index.get_indexer(held["parcel_id"].astype(str).tolist())
    days = latest.to_numpy("datetime64[D]")
    last = [str(days[k]) if k >= 0 else None for k in at.tolist()]
    stands = np.asarray(held["last_observed"].astype(str).tolist(), object) == np.asarray(
        last, object
    )
    standing = Counter(
        zip(held.loc[stands, "kind"].tolist(), held.loc[stands, "severity"].tolist(), strict=True)
    )
    return before[~skip], standing


def _irrigated_parcels(parcels: gpd.GeoDataFrame, farmers: pd.DataFrame) -> set[str]:
    """Parcels of farmers marked ``irrigated`` (never water-limited: no drought alert)."""
    if "irrigated" not in farmers.columns:
        return set()
    flag = farmers["irrigated"].astype("boolean").fillna(False).to_numpy(bool)
    owners = set(farmers["farmer_id"].astype(str).to_numpy(object)[flag].tolist())
    # plain set lookups: isin and set() over Arrow strings took 10-15 ms at 20,000 parcels
    pids = parcels["parcel_id"].astype(str).tolist()
    fids = parcels["farmer_id"].astype(str).tolist()
    return {p for p, f in zip(pids, fids, strict=True) if f in owners}


def _day(item: SceneItem) -> dt.date:
    t = pd.Timestamp(item.datetime)
    return (t.tz_convert(None) if t.tzinfo else t).date()


def _apply_verdicts(
    con: sqlite3.Connection,
    plan: VerdictPlan,
    stored: dict[str, StoredVerdict],
    run_id: int,
    as_of: dt.date,
    summary: RunSummary,
) -> None:
    """Write the group steps of ``plan``: verdicts kept, resolved, unlinked or dropped.

    A kept verdict is one row written (none when nothing changed), whatever the number
    of its alerts. Unlinked alerts take the values the ``alerts`` view showed for them
    and are then judged one by one; the summary counts the kept and resolved alerts.
    """
    for v, last, changed in plan.keep:
        if changed:
            con.execute(
                "UPDATE verdicts SET severity = ?, last_observed = ?, evidence = ?, "
                "updated_run = ? WHERE verdict_id = ?",
                (v.severity, last, evidence_json(v.evidence), run_id, v.key),
            )
        if stored[v.key].promoted_run is None:  # its ``new`` alerts are ongoing from now on
            con.execute(
                "UPDATE verdicts SET promoted_run = ? WHERE verdict_id = ?", (run_id, v.key)
            )
        summary.ongoing[(v.kind, v.severity)] += stored[v.key].linked
    for vid in plan.resolve:
        s = stored[vid]
        ev = json.loads(s.evidence)
        evidence = dict(ev) if isinstance(ev, dict) else {}
        evidence["resolved_as_of"] = as_of.isoformat()
        con.execute(
            "UPDATE alert_rows SET status = 'resolved', severity = ?, last_observed = ?, "
            "evidence = ?, updated_run = ?, verdict_id = NULL WHERE verdict_id = ?",
            (s.severity, s.last_observed, evidence_json(evidence), run_id, vid),
        )
        summary.resolved[(vid.split("|", 1)[0], s.severity)] += s.linked
    for vid in plan.unlink:  # the values the ``alerts`` view shows, into the rows
        s = stored[vid]
        promoted = s.promoted_run
        con.execute(
            "UPDATE alert_rows SET severity = ?, last_observed = ?, evidence = ?, "
            "status = CASE WHEN status = 'new' AND ? IS NOT NULL THEN 'ongoing' ELSE status END, "
            "updated_run = MAX(updated_run, COALESCE(?, updated_run), "
            "CASE WHEN status = 'new' AND ? IS NOT NULL THEN ? ELSE updated_run END), "
            "verdict_id = NULL WHERE verdict_id = ?",
            (
                s.severity,
                s.last_observed,
                s.evidence,
                promoted,
                s.updated_run,
                promoted,
                promoted,
                vid,
            ),
        )
    gone = plan.resolve + plan.unlink + plan.drop
    con.executemany("DELETE FROM verdicts WHERE verdict_id = ?", [(vid,) for vid in gone])


def _links(changes: list[AlertChange], expanded: list[Verdict]) -> dict[str, str]:
    """alert_id → verdict_id of the changed alerts that follow an expanded verdict from now on.

    Those opened or updated from the verdict whose values are the verdict's: every one,
    unless its stored ``last_observed`` is later than the verdict's.
    """
    if not expanded:
        return {}
    member: dict[tuple[str, str], Verdict] = {}
    for v in expanded:
        for pid in v.parcels.tolist():
            member[(pid, v.kind)] = v
    out: dict[str, str] = {}
    for c in changes:
        if c.action == "resolve":
            continue
        shared = member.get((c.parcel_id, c.kind))
        if shared is not None and c.last_observed == shared.observed.isoformat():
            out[c.alert_id] = shared.key
    return out


def _store_verdicts(
    con: sqlite3.Connection, expanded: list[Verdict], links: dict[str, str]
) -> None:
    """The rows of the expanded verdicts that alerts follow now.

    ``updated_run`` is NULL: the rows of the alerts following it say when each last changed.
    """
    used = set(links.values())
    con.executemany(
        "INSERT OR REPLACE INTO verdicts (verdict_id, kind, severity, last_observed, evidence, "
        "updated_run, promoted_run, members) VALUES (?, ?, ?, ?, ?, NULL, NULL, ?)",
        [
            (
                v.key,
                v.kind,
                v.severity,
                v.observed.isoformat(),
                evidence_json(v.evidence),
                members_key(v.parcels),
            )
            for v in expanded
            if v.key in used
        ],
    )


def _write_changes(
    con: sqlite3.Connection,
    changes: list[AlertChange],
    farmer_of: pd.Series,
    as_of: dt.date,
    run_id: int,
    summary: RunSummary,
    before: pd.DataFrame | None = None,
    links: dict[str, str] | None = None,
) -> None:
    """Write the run's alert changes; an ongoing alert that did not change is not rewritten.

    ``before``: the open alerts as stored (evidence as JSON text); an update that leaves
    status, severity, last_observed and evidence as they are keeps its ``updated_run``
    (the run that last changed the alert). ``links``: alert_id → the verdict the alert
    follows from now on.
    """
    links = links or {}
    stored: dict[str, tuple] = {}
    if before is not None and len(before):
        stored = dict(
            zip(
                before["alert_id"].tolist(),
                zip(
                    before["status"].tolist(),
                    before["severity"].tolist(),
                    before["last_observed"].tolist(),
                    before["evidence"].tolist(),
                    strict=True,
                ),
                strict=True,
            )
        )
    opens = any(c.action == "open" for c in changes)  # farmers are looked up for new alerts only
    farmer = dict(zip(farmer_of.index.tolist(), farmer_of.tolist(), strict=True)) if opens else {}
    encoded: dict[int, tuple[dict, str]] = {}  # a verdict's evidence is shared by its parcels

    def dumps(ev: dict) -> str:
        hit = encoded.get(id(ev))
        if hit is None or hit[0] is not ev:
            hit = encoded[id(ev)] = (ev, evidence_json(ev))
        return hit[1]

    opened, updated, linked = [], [], []
    for c in changes:
        ev = dumps(c.evidence)
        key = (c.kind, c.severity)
        link = links.get(c.alert_id)
        if c.action == "open":
            summary.new[key] += 1
            opened.append(
                (
                    c.alert_id,
                    c.parcel_id,
                    farmer.get(c.parcel_id),
                    c.kind,
                    c.severity,
                    c.status,
                    c.first_detected,
                    c.last_observed,
                    c.onset,
                    as_of.isoformat(),
                    run_id,
                    ev,
                    link,
                )
            )
        else:
            (summary.ongoing if c.action == "update" else summary.resolved)[key] += 1
            if stored.get(c.alert_id) == (c.status, c.severity, c.last_observed, ev):
                if link is not None:
                    linked.append((link, c.alert_id))
                continue
            updated.append((c.status, c.severity, c.last_observed, run_id, ev, link, c.alert_id))
    con.executemany(
        "INSERT INTO alert_rows (alert_id, parcel_id, farmer_id, kind, severity, status, "
        "first_detected, last_observed, onset, opened_as_of, updated_run, evidence, verdict_id) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
        "ON CONFLICT(alert_id) DO UPDATE SET status = 'ongoing', severity = excluded.severity, "
        "last_observed = excluded.last_observed, updated_run = excluded.updated_run, "
        "evidence = excluded.evidence, verdict_id = excluded.verdict_id",
        opened,
    )
    con.executemany(
        "UPDATE alert_rows SET status = ?, severity = ?, last_observed = ?, updated_run = ?, "
        "evidence = ?, verdict_id = ? WHERE alert_id = ?",
        updated,
    )
    con.executemany("UPDATE alert_rows SET verdict_id = ? WHERE alert_id = ?", linked)


def _farmer_risk(
    con: sqlite3.Connection,
    run_id: int,
    farmer_ids: pd.Series,
    touched: tuple[list[str], list[str]] | None = None,
) -> None:
    """Open alerts per farmer → points (low 1, medium 3, high 10) → level none/watch/elevated/high.

    Every farmer of ``farmer_ids`` and every farmer with an open alert has a row; a row is
    rewritten (with this ``run_id``) only when it changes. Counted and compared in SQL:
    the Python work follows the farmers whose rows change.

    ``touched``: (the verdicts whose severity this run changed, the alerts it linked to a
    verdict): only the farmers of those alerts, of the alerts following those verdicts and
    of the rows this run wrote (``updated_run``) are counted again; the others' open alerts
    are as the last run left them (the view's severity and status change only through
    these; 30 -> 17 ms of CPU at 16,600 open alerts, 7,800 farmers). None: every farmer.
    """
    pts = " + ".join(f"{p} * SUM(severity = '{s}')" for s, p in SEVERITY_POINTS.items())
    con.execute("DROP TABLE IF EXISTS temp.risk_now")
    con.execute("DROP TABLE IF EXISTS temp.touched")
    scope = ""
    if touched is not None:
        con.execute("CREATE TEMP TABLE touched (farmer_id TEXT PRIMARY KEY)")
        add = "INSERT OR IGNORE INTO touched SELECT COALESCE(farmer_id, 'None') FROM alert_rows "
        con.execute(add + "WHERE updated_run = ?", (run_id,))
        con.executemany(add + "WHERE verdict_id = ?", [(v,) for v in touched[0]])
        con.executemany(add + "WHERE alert_id = ?", [(a,) for a in touched[1]])
        scope = "AND COALESCE(farmer_id, 'None') IN (SELECT farmer_id FROM touched) "
    con.execute(
        "CREATE TEMP TABLE risk_now AS SELECT farmer_id, n, h, m, l, pts, "
        "CASE WHEN pts >= 10 THEN 'high' WHEN pts >= 3 THEN 'elevated' WHEN pts > 0 THEN 'watch' "
        "ELSE 'none' END AS level FROM ("
        "SELECT COALESCE(farmer_id, 'None') AS farmer_id, COUNT(*) AS n, "
        "SUM(severity = 'high') AS h, SUM(severity = 'medium') AS m, SUM(severity = 'low') AS l, "
        f"{pts} AS pts FROM alerts WHERE status IN ('new', 'ongoing') {scope}GROUP BY 1)"
    )
    con.execute(
        "INSERT OR REPLACE INTO farmer_risk SELECT r.farmer_id, ?, r.n, r.h, r.m, r.l, r.pts, "
        "r.level FROM risk_now r LEFT JOIN farmer_risk o ON o.farmer_id = r.farmer_id "
        "WHERE o.farmer_id IS NULL OR o.open_alerts != r.n OR o.open_high != r.h "
        "OR o.open_medium != r.m OR o.open_low != r.l",
        (run_id,),
    )
    # farmers whose alerts all closed, farmers new to the list, farmers no longer in it
    farmers = set(farmer_ids.tolist())
    closed = {
        str(r[0])
        for r in con.execute(
            "SELECT farmer_id FROM farmer_risk WHERE open_alerts > 0 "
            "AND farmer_id NOT IN (SELECT farmer_id FROM risk_now)"
            + (" AND farmer_id IN (SELECT farmer_id FROM touched)" if touched is not None else "")
        )
    }
    quiet = {
        str(r[0]) for r in con.execute("SELECT farmer_id FROM farmer_risk WHERE open_alerts = 0")
    }
    still_open = {
        str(r[0]) for r in con.execute("SELECT farmer_id FROM farmer_risk WHERE open_alerts > 0")
    }
    listed = farmers - quiet - (still_open - closed)
    con.executemany(
        "INSERT OR REPLACE INTO farmer_risk VALUES (?, ?, 0, 0, 0, 0, 0, 'none')",
        [(f, run_id) for f in sorted(listed)],
    )
    con.executemany(
        "DELETE FROM farmer_risk WHERE farmer_id = ?",
        [(f,) for f in sorted((closed | quiet) - farmers)],
    )
    con.execute("DROP TABLE temp.risk_now")
    con.execute("DROP TABLE IF EXISTS temp.touched")


def _crop_check(
    con: sqlite3.Connection,
    items: list[SceneItem],
    parcels: gpd.GeoDataFrame,
    crops: pd.Series,
    workspace: Path,
    season,
    as_of: dt.date,
    report: Report,
    workers: int | Parallel,
    past_items: list[SceneItem] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(the predictions to raise ``crop_mismatch`` from, the new check or None).

    A new check when one is due (:func:`agririsk.monitoring.crops.check_due`), else the
    latest check of this season kept in the store. ``past_items``: images of earlier
    years, for the parcels' rotation group (:func:`agririsk.monitoring.crops.classify`).
    """
    from agririsk.monitoring import crops as crop_mod

    last = store.get_meta(con, "crop_check_as_of")
    last_day = dt.date.fromisoformat(last) if last else None
    if last_day is not None and last_day < season.start:
        last_day = None  # a check of an earlier season
    # the declared crops once each (check_due looks at the set: iterating 20,000 Arrow
    # strings took ~10 ms)
    declared = pd.Series(crops.unique())
    if crop_mod.check_due(declared, season, as_of, last_day):
        logger.info("as of %s: classifying the season's crops against the declarations", as_of)
        new = crop_mod.classify(
            items, parcels, workspace, season, as_of, report, workers=workers, past_items=past_items
        )
        return new, new
    if last_day is None:
        return pd.DataFrame(columns=["parcel_id", "crop", "probability", "date"]), None
    kept = pd.read_sql_query("SELECT parcel_id, crop, probability, date FROM crop_predictions", con)
    return kept, None


class _Fresh:
    """The (parcel, kind) pairs with data newer than the last run, without listing them all.

    Imagery kinds of the parcels with a clear view since the last run; weather kinds of
    every parcel when weather days arrived (the parcels' stations share the file).
    """

    def __init__(self, imagery: set[str], weather: set[str] | None) -> None:
        self.imagery, self.weather = imagery, weather or set()
        #: parcels classified by this run's crop check (their crop_mismatch can resolve)
        self.crop: set[str] = set()

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple):
            return False
        pid, kind = key
        if kind in WEATHER_KINDS:
            return pid in self.weather
        if kind == "crop_mismatch":
            return pid in self.crop
        return kind in IMAGERY_KINDS and pid in self.imagery


def _fresh(
    latest: pd.Series,
    weather: pd.DataFrame,
    parcels: gpd.GeoDataFrame,
    last_as_of: dt.date | None,
) -> _Fresh:
    """(parcel, kind) pairs with data newer than the last run: a clear view, or weather days.

    ``latest``: each parcel's latest clear view (:func:`_latest_views`).
    """
    since = pd.Timestamp(last_as_of) if last_as_of else pd.Timestamp.min
    imagery: set[str] = set(latest.index[latest.to_numpy() > since.to_datetime64()].tolist())
    weather_new = None
    if not weather.empty and (weather["date"] > since).any():
        weather_new = set(parcels["parcel_id"].astype(str).tolist())
    return _Fresh(imagery, weather_new)
