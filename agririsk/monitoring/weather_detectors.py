"""Weather detectors linked to the crop calendar: ``drought``, ``heat_stress``, ``frost``.

Pure functions over a daily weather table per station (``station_id, date, tmin_c,
tmax_c, precip_mm``) and the parcel → station assignment. Work is done per station and
crop (a few dozen combinations): :func:`weather_verdicts` gives one :class:`Verdict` per
group and kind with the group's parcels as an array, which a monitoring run stores once
per group; :func:`detect_weather` spreads them over parcels as conditions.

Notes
-----
Crop stages come from the crop calendar of ``agririsk/data/crops.csv``: sowing
``sowing_doy``, emergence ``+ emergence_days``, flowering ``+ days_to_peak``, maturity
``+ season_days``.

- ``heat_stress``: at least 2 days with ``tmax > t_heat_c`` within flowering +-10 d in
  the last 10 days (the yield-sensitive window; FAO-33 / Porter & Gawith 1999); severity
  by degree-days above the threshold (>= 10 high, >= 4 medium).
- ``frost``: a day with ``tmin < 0 degC`` between emergence (wheat: 10 days before
  heading; it is frost-hardy before) and maturity in the last 7 days; ``tmin < -2 degC``
  is high.
- ``drought``: a daily FAO-56 ch. 8 root-zone bucket from April 1 (Hargreaves ET0,
  eq. 52; Kc 0 before sowing, then the crop's FAO-56 stages; TAW = ``TAW_MM``, initial
  depletion 25 % after snowmelt; effective rain P - 0.3 (P - 25)+); the water-stress
  coefficient Ks = (TAW - Dr) / ((1 - p) TAW) when Dr > p TAW. The projected yield loss
  so far is FAO-33 ``ky (1 - sum w Ks ETc / sum w ETc)`` with flowering weight
  ``w = 1 + 2 exp(-((t - peak) / 15 d)^2)``. Open while the mean Ks of the last 14 days
  is < 0.8 and the loss so far >= ``DROUGHT_MIN_LOSS`` (5 %); stress counts from
  emergence to ``DROUGHT_END_DAYS`` (20) days before maturity, and a run between that day
  and maturity judges the window as it ended (a 15-day cron would otherwise skip a
  drought that built up in its last two weeks); severity by the loss: high >= 20 %,
  medium >= 10 %. Irrigated farmers and
  paddy rice are not water-limited and never get a drought alert.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import NamedTuple

import numpy as np
import pandas as pd

from agririsk.crop_models.crops import CropParams, crop_params
from agririsk.monitoring.lifecycle import Condition
from agririsk.region import Season
from agririsk.weather.et0 import hargreaves_array

__all__ = [
    "WEATHER_KINDS",
    "TAW_MM",
    "crop_calendar",
    "station_conditions",
    "detect_weather",
    "weather_verdicts",
    "weather_groups",
    "group_key",
    "Verdict",
]

logger = logging.getLogger(__name__)

WEATHER_KINDS = ("drought", "heat_stress", "frost")
#: root-zone total available water assumed when the parcel's soil is unknown, mm
TAW_MM = 180.0
#: projected relative yield loss from water stress so far that makes a drought alert
DROUGHT_MIN_LOSS = 0.05
#: water stress counts up to this many days before the calendar maturity; a run after
#: that day and before maturity judges the window as it ended
DROUGHT_END_DAYS = 20


def crop_calendar(p: CropParams, year: int) -> dict[str, pd.Timestamp]:
    """Sowing, emergence, flowering and maturity dates of ``p`` in ``year``."""
    sow = pd.Timestamp(year, 1, 1) + pd.Timedelta(days=p.sowing_doy - 1)
    return {
        "sowing": sow,
        "emergence": sow + pd.Timedelta(days=p.emergence_days),
        "flowering": sow + pd.Timedelta(days=p.days_to_peak),
        "maturity": sow + pd.Timedelta(days=p.season_days),
    }


def _kc(p: CropParams, day: np.ndarray) -> np.ndarray:
    """FAO-56 Kc curve (Fig. 25) by days after sowing."""
    l1, l2, l3, l4 = p.stage_lengths
    xs = [0, l1, l1 + l2, l1 + l2 + l3, l1 + l2 + l3 + l4]
    ys = [p.kc_ini, p.kc_ini, p.kc_mid, p.kc_mid, p.kc_end]
    return np.interp(day, xs, ys)


def station_conditions(
    daily: pd.DataFrame, crop: str, as_of: dt.date, latitude_deg: float
) -> list[tuple[str, str, pd.Timestamp, pd.Timestamp, dict]]:
    """Weather conditions of ``crop`` at one station on ``as_of``.

    Parameters
    ----------
    daily : one station's days (``date, tmin_c, tmax_c, precip_mm``), any span, one row a day.
    crop : crop name (unknown → ``other``).
    as_of : nothing after it is used.
    latitude_deg : station latitude, for Hargreaves ET0.

    Returns
    -------
    list of (kind, severity, onset, last_day, evidence).
    """
    return _conditions(_StationDays.of(daily), crop, as_of, latitude_deg)


class _StationDays(NamedTuple):
    """One station's days as arrays, sorted by date (``datetime64[D]``)."""

    date: np.ndarray
    tmin: np.ndarray
    tmax: np.ndarray
    precip: np.ndarray

    @classmethod
    def of(cls, daily: pd.DataFrame) -> _StationDays:
        d = daily.sort_values("date", kind="stable")
        return cls(
            d["date"].to_numpy("datetime64[D]"),
            d["tmin_c"].to_numpy(float),
            d["tmax_c"].to_numpy(float),
            d["precip_mm"].to_numpy(float),
        )


def _d64(t: pd.Timestamp) -> np.datetime64:
    return np.datetime64(t.date(), "D")


def _ts(d: np.datetime64) -> pd.Timestamp:
    return pd.Timestamp(d)


def _conditions(
    days: _StationDays, crop: str, as_of: dt.date, latitude_deg: float
) -> list[tuple[str, str, pd.Timestamp, pd.Timestamp, dict]]:
    p = crop_params(crop)
    end = np.datetime64(as_of, "D")
    cal = {k: _d64(v) for k, v in crop_calendar(p, as_of.year).items()}
    day = np.timedelta64(1, "D")
    m = (days.date >= cal["sowing"]) & (days.date <= end)
    if not m.any() or end < cal["emergence"]:
        return []
    out: list[tuple[str, str, pd.Timestamp, pd.Timestamp, dict]] = []
    dates, tmax, tmin = days.date[m], days.tmax[m], days.tmin[m]
    # heat at flowering
    win = (dates >= cal["flowering"] - 10 * day) & (dates <= cal["flowering"] + 10 * day)
    recent = dates > end - 10 * day
    hot = win & (tmax > p.t_heat_c)
    if (hot & recent).sum() >= 2:
        dd = float(np.nansum(np.where(hot, tmax - p.t_heat_c, 0)))
        sev = "high" if dd >= 10 else ("medium" if dd >= 4 else "low")
        out.append(
            (
                "heat_stress",
                sev,
                _ts(dates[hot][0]),
                _ts(dates[hot][-1]),
                {
                    "threshold_tmax_c": p.t_heat_c,
                    "hot_days": int(hot.sum()),
                    "degree_days": round(dd, 1),
                    "flowering_expected": str(cal["flowering"]),
                    "max_tmax_c": float(np.nanmax(tmax[hot])),
                },
            )
        )
    # frost between emergence (wheat: heading, it is hardy before) and maturity
    frost_from = cal["flowering"] - 10 * day if p.crop == "wheat" else cal["emergence"]
    grow = (dates >= frost_from) & (dates <= cal["maturity"])
    frost = grow & (tmin < 0) & (dates > end - 7 * day)
    if frost.any():
        low = float(np.nanmin(tmin[frost]))
        out.append(
            (
                "frost",
                "high" if low < -2 else "medium",
                _ts(dates[frost][0]),
                _ts(dates[frost][-1]),
                {
                    "min_tmin_c": round(low, 1),
                    "frost_days": int(frost.sum()),
                    "threshold_tmin_c": 0.0,
                },
            )
        )
    # drought: FAO-56 bucket from April 1 (soil 25 % depleted after snowmelt). Stress
    # counts up to DROUGHT_END_DAYS before maturity; a run between that day and maturity
    # judges the window as it ended (the loss is done and the crop still in the field):
    # whether a run happens to fall inside the window must not decide the alert
    stop = cal["maturity"] - DROUGHT_END_DAYS * day
    if p.crop != "rice" and end <= cal["maturity"]:
        upto = min(end, stop)
        start = min(np.datetime64(f"{as_of.year}-04-01", "D"), cal["sowing"])
        bm = (days.date >= start) & (days.date <= upto)
        bdates = days.date[bm]
        ks, etc, t = _bucket(
            bdates, days.tmin[bm], days.tmax[bm], days.precip[bm], p, cal["sowing"], latitude_deg
        )
        last14 = (bdates > upto - 14 * day) & (bdates >= cal["emergence"])
        if last14.sum() >= 7:
            mean_ks = float(np.nanmean(ks[last14]))
            w = 1 + 2 * np.exp(-(((t - p.days_to_peak) / 15.0) ** 2))
            loss = p.ky * (1 - float(np.sum(w * ks * etc)) / max(float(np.sum(w * etc)), 1e-9))
            if mean_ks < 0.8 and loss >= DROUGHT_MIN_LOSS:
                sev = "high" if loss >= 0.2 else ("medium" if loss >= 0.1 else "low")
                stressed = bdates[(ks < 0.9) & (bdates >= cal["emergence"])]
                rain30 = float(np.nansum(days.precip[bm][bdates > upto - 30 * day]))
                out.append(
                    (
                        "drought",
                        sev,
                        _ts(stressed[0]),
                        _ts(bdates[-1]),
                        {
                            "ks_mean_14d": round(mean_ks, 3),
                            "expected_ks": 1.0,
                            "yield_loss_so_far": round(loss, 3),
                            "taw_mm": TAW_MM,
                            "rain_30d_mm": round(rain30, 1),
                        }
                        | ({"stress_window_end": str(stop)} if upto < end else {}),
                    )
                )
    return out


def _bucket(
    dates: np.ndarray,
    tmin: np.ndarray,
    tmax: np.ndarray,
    precip: np.ndarray,
    p: CropParams,
    sow: np.datetime64,
    lat: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Daily Ks, ETc (mm) and days after sowing of the FAO-56 ch. 8 bucket (Kc = 0 before sowing)."""
    t = (dates - sow).astype(np.int64)
    et0 = hargreaves_array(tmin, tmax, lat, pd.DatetimeIndex(dates).day_of_year.to_numpy())
    etc = np.where(t < 0, 0.0, _kc(p, t)) * np.nan_to_num(et0, nan=3.0)
    rain = np.nan_to_num(precip)
    eff = rain - 0.3 * np.maximum(rain - 25, 0)
    taw, pdep = TAW_MM, p.p_depletion
    dr = 0.25 * taw
    ks = np.ones(len(dates))
    for i in range(len(dates)):
        k = 1.0 if dr <= pdep * taw else max(0.0, (taw - dr) / ((1 - pdep) * taw))
        ks[i] = k
        dr = min(taw, max(0.0, dr - eff[i] + k * etc[i]))
    return ks, etc, t


class Verdict(NamedTuple):
    """One weather condition of a (station, crop) group, shared by the group's parcels.

    Attributes
    ----------
    kind, severity : the alert kind (``drought``, ``heat_stress``, ``frost``) and severity.
    station_id, crop : the group.
    observed, onset : the latest and the first day showing it.
    evidence : what every parcel's alert carries (``station_id`` included).
    parcels : the parcels it concerns (``parcel_id`` strings, sorted): the group's
        parcels, without the irrigated ones for ``drought``.
    """

    kind: str
    station_id: str
    crop: str
    severity: str
    observed: dt.date
    onset: dt.date
    evidence: dict
    parcels: np.ndarray

    @property
    def key(self) -> str:
        """``kind|station_id|crop``: the group and kind (one verdict of it per run)."""
        return group_key(self.kind, self.station_id, self.crop)


def group_key(kind: str, station_id: str, crop: str) -> str:
    """The key of a weather group and kind, ``kind|station_id|crop``."""
    return f"{kind}|{station_id}|{crop}"


def _ranks(values: np.ndarray) -> np.ndarray:
    """The rank of each value among the sorted distinct values (equal values, equal ranks)."""
    return pd.factorize(values, sort=True)[0]


def weather_groups(
    parcel_station: pd.Series, crops: pd.Series, not_water_limited: set[str] | None = None
) -> dict[str, np.ndarray]:
    """The parcels of every weather group and kind (:func:`group_key`), sorted ids.

    A group is the parcels of one station declaring one crop (unknown: ``other``); a
    ``drought`` group leaves out ``not_water_limited`` parcels.
    """
    pids = parcel_station.index.astype(str).to_numpy()
    sids = parcel_station.to_numpy().astype(str)
    crop = crops.reindex(parcel_station.index).fillna("other").astype(str).to_numpy()
    if not len(pids):
        return {}
    # sorted by station, crop, parcel: on the ranks of the strings (lexsort compares
    # Python strings one by one on object arrays; the ranks keep the same order)
    s_rank, c_rank = _ranks(sids), _ranks(crop)
    order = np.lexsort((_ranks(pids), c_rank, s_rank))
    pids, sids, crop = pids[order], sids[order], crop[order]
    s_rank, c_rank = s_rank[order], c_rank[order]
    cut = np.flatnonzero((s_rank[1:] != s_rank[:-1]) | (c_rank[1:] != c_rank[:-1])) + 1
    skip = not_water_limited or set()
    # set lookups: np.isin on string arrays took 0.13 s at 5,000 parcels
    dry = np.fromiter((p not in skip for p in pids.tolist()), bool, len(pids))
    out: dict[str, np.ndarray] = {}
    for a, b in zip(np.r_[0, cut], np.r_[cut, len(pids)], strict=True):
        members = pids[a:b]
        for kind in WEATHER_KINDS:
            keep = members[dry[a:b]] if kind == "drought" and skip else members
            out[group_key(kind, str(sids[a]), str(crop[a]))] = keep
    return out


def weather_verdicts(
    weather: pd.DataFrame,
    stations: pd.DataFrame,
    parcel_station: pd.Series,
    crops: pd.Series,
    season: Season,
    as_of: dt.date,
    *,
    not_water_limited: set[str] | None = None,
    groups: dict[str, np.ndarray] | None = None,
) -> list[Verdict]:
    """Weather conditions at ``as_of``, one per (station, crop) group and kind (see module notes).

    Parameters
    ----------
    weather : daily station table (``station_id, date, tmin_c, tmax_c, precip_mm``).
    stations : ``station_id, lat``.
    parcel_station : station of each parcel (index ``parcel_id``).
    crops : declared crop by parcel.
    season : the monitored season; nothing outside it alerts.
    as_of : nothing after it is used.
    not_water_limited : parcels of irrigated farmers (no drought alert).
    groups : :func:`weather_groups` of these parcels, when the caller has it.

    Returns
    -------
    list of :class:`Verdict` (groups without a condition, or without parcels, are left
    out), by station, crop and kind (heat, frost, drought). Every parcel of a verdict has
    that condition; :func:`detect_weather` spreads them over parcels.
    """
    end = min(pd.Timestamp(as_of), pd.Timestamp(season.end))
    if end < pd.Timestamp(season.start) or weather.empty:
        return []
    lat = stations.set_index("station_id")["lat"].astype(float)
    w = weather[weather["date"] <= end]
    by_station = {str(sid): _StationDays.of(g) for sid, g in w.groupby("station_id", sort=False)}
    nothing = _StationDays.of(w.iloc[:0])
    if groups is None:
        groups = weather_groups(parcel_station, crops, not_water_limited)
    out: list[Verdict] = []
    done: set[tuple[str, str]] = set()
    # conditions are worked out per (station, crop), then shared by its parcels
    for key in groups:
        _, sid, crop = key.split("|", 2)
        if (sid, crop) in done:
            continue
        done.add((sid, crop))
        days = by_station.get(sid, nothing)
        for kind, sev, onset, last, ev in _conditions(
            days, crop, end.date(), float(lat.get(sid, 45.0))
        ):
            members = groups[group_key(kind, sid, crop)]
            if len(members):
                out.append(
                    Verdict(
                        kind,
                        sid,
                        crop,
                        sev,
                        last.date(),
                        onset.date(),
                        dict(ev, station_id=sid),
                        members,
                    )
                )
    return out


def detect_weather(verdicts: list[Verdict], parcel_ids: pd.Index) -> list[Condition]:
    """Weather conditions parcel by parcel: the :func:`weather_verdicts` spread over their parcels.

    Parameters
    ----------
    verdicts : :func:`weather_verdicts` of the parcels.
    parcel_ids : the order of the conditions: parcel by parcel in this order (the index of
        the verdicts' ``parcel_station``), each parcel's in the order heat, frost, drought.

    Returns
    -------
    list of :class:`~agririsk.monitoring.lifecycle.Condition`, one per parcel of each
    verdict. A monitoring run uses the verdicts themselves (one per group, not one per
    parcel).
    """
    if not verdicts:
        return []
    rank = {p: i for i, p in enumerate(parcel_ids.astype(str))}
    found = [
        (rank[pid], WEATHER_ORDER[v.kind], pid, v) for v in verdicts for pid in v.parcels.tolist()
    ]
    found.sort(key=lambda t: (t[0], t[1]))
    return [
        Condition(pid, v.kind, v.severity, v.observed, v.onset, dict(v.evidence))
        for _, _, pid, v in found
    ]


#: the order of a parcel's weather conditions (that of :func:`_conditions`)
WEATHER_ORDER = {"heat_stress": 0, "frost": 1, "drought": 2}
