"""Quality control of daily station weather beyond the reader: stuck sensors and gap filling.

- :func:`stuck_runs` finds a sensor repeating one value (a frozen anemometer, a logger
  copying yesterday); the reader sets the repeats missing and reports them.
- :func:`fill_short_gaps` fills missing values of runs up to :data:`SHORT_GAP_DAYS` days,
  counts every filled value in the report, and leaves longer gaps missing, so the
  parcel-seasons they touch are flagged downstream instead of guessed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from agririsk.inputs.report import Report

__all__ = ["STUCK_DAYS", "SHORT_GAP_DAYS", "REQUIRED", "stuck_runs", "fill_short_gaps"]

logger = logging.getLogger(__name__)

#: A value repeated on this many consecutive days (or more) is a stuck sensor.
STUCK_DAYS = 5
#: Stations with a shorter record are not checked for stuck sensors (steady weather or a sensor?).
STUCK_MIN_RECORD_DAYS = 30
#: Gaps of up to this many consecutive days are filled; longer ones are left missing.
SHORT_GAP_DAYS = 5
#: Variables without which a parcel-season is flagged (others have FAO-56 fallbacks).
REQUIRED = ("tmin_c", "tmax_c", "precip_mm")
_STUCK_VARIABLES = ("tmin_c", "tmax_c", "precip_mm", "rh_mean_pct", "wind_ms", "solar_mj_m2")
_INTERPOLATED = ("tmin_c", "tmax_c", "rh_mean_pct", "wind_ms", "solar_mj_m2", "et0_mm")


def stuck_runs(frame: pd.DataFrame, column: str, min_days: int = STUCK_DAYS) -> pd.Series:
    """Rows that repeat the previous day's value within a run of ``min_days`` or more identical days.

    Parameters
    ----------
    frame : tidy daily table sorted by ``station_id`` and ``date``.
    column : the variable to check. Zero rain and 100 % humidity may legitimately persist
        and never count as stuck.

    Returns
    -------
    Boolean Series: True on the repeats (the first day of the run is kept as genuine).
    Stations with fewer than :data:`STUCK_MIN_RECORD_DAYS` days are not checked: so short a
    record cannot tell a frozen sensor from steady weather.
    """
    x = frame[column]
    same = (
        (x == x.shift())
        & (frame["station_id"] == frame["station_id"].shift())
        & ((frame["date"] - frame["date"].shift()) == pd.Timedelta(days=1))
    )
    if column == "precip_mm":
        same &= x != 0
    if column == "rh_mean_pct":
        same &= x < 100
    run_id = (~same).cumsum()
    length = same.groupby(run_id).transform("size")
    record = frame.groupby("station_id")["date"].transform("size")
    return same & (length >= min_days) & (record >= STUCK_MIN_RECORD_DAYS)


def fill_short_gaps(
    daily: pd.DataFrame,
    stations: pd.DataFrame,
    report: Report,
    *,
    source: str | Path = "weather",
    max_gap_days: int = SHORT_GAP_DAYS,
    max_neighbour_km: float = 50.0,
) -> pd.DataFrame:
    """Complete each station's daily record, filling short gaps and counting every fill.

    Parameters
    ----------
    daily : tidy checked observations (:func:`agririsk.weather.read_station_daily`).
    stations : the station table (``station_id``, ``lat``, ``lon``).
    report : one info problem per station and variable filled; counters
        ``weather_filled_values`` and ``weather_unfilled_values``.
    max_gap_days : longest run of missing days that is filled.
    max_neighbour_km : farthest station rain may be borrowed from.

    Returns
    -------
    pandas.DataFrame
        Every day from each station's first to last date (missing rows added), with the
        columns of ``daily`` and a boolean ``filled`` column per row (any value filled).

    Notes
    -----
    Temperatures, humidity, wind, radiation and ET0: linear interpolation in time between
    the days either side of the gap (these series are strongly autocorrelated from day to
    day). Precipitation is not interpolated (rain is intermittent): a short gap takes the
    same day's value of the nearest station within ``max_neighbour_km`` that has one.
    Gaps longer than ``max_gap_days`` and gaps at the ends of a record stay missing.
    """
    out = []
    coords = stations.set_index("station_id")[["lat", "lon"]].astype(float)
    wide_rain = daily.pivot(index="date", columns="station_id", values="precip_mm") if "precip_mm" in daily else None
    columns = [c for c in daily.columns if c not in ("station_id", "date")]
    totals: dict[str, int] = {}
    for sid, group in daily.groupby("station_id", sort=True):
        days = pd.date_range(group["date"].min(), group["date"].max(), freq="D")
        g = group.set_index("date").reindex(days)
        g["station_id"] = sid
        filled_any = pd.Series(False, index=days)
        for column in columns:
            short = _short_gaps(g[column], max_gap_days)
            if not short.any():
                continue
            if column == "precip_mm":
                values = _borrow_rain(sid, short, wide_rain, coords, max_neighbour_km)
            elif column in _INTERPOLATED:
                values = g[column].interpolate(method="time", limit_area="inside")
            else:
                continue
            done = short & values.notna()
            g.loc[done, column] = values[done]
            filled_any |= done
            n = int(done.sum())
            if n:
                how = "nearest station's rain" if column == "precip_mm" else "linear interpolation"
                report.info(source, f"station {sid}", f"{column}: {n} value(s) in gaps of <= {max_gap_days} days "
                            f"filled by {how}")
                report.count("weather_filled_values", n)
                totals[column] = totals.get(column, 0) + n
        unfilled = int(g[[c for c in REQUIRED if c in g]].isna().any(axis=1).sum())
        if unfilled:
            report.count("weather_unfilled_days", unfilled)
        g["filled"] = filled_any
        out.append(g.rename_axis("date").reset_index())
    if totals:
        logger.info("filled short weather gaps: %s", ", ".join(f"{k} {v}" for k, v in sorted(totals.items())))
    result = pd.concat(out, ignore_index=True) if out else daily.assign(filled=False)
    result.attrs = dict(daily.attrs)
    return result[["station_id", "date", *columns, "filled"]]


def _short_gaps(x: pd.Series, max_days: int) -> pd.Series:
    """True on missing values in interior runs of at most ``max_days``."""
    missing = x.isna()
    if not missing.any():
        return missing
    run_id = (missing != missing.shift()).cumsum()
    length = missing.groupby(run_id).transform("size")
    interior = x.ffill().notna() & x.bfill().notna()
    return missing & (length <= max_days) & interior


def _borrow_rain(sid: str, short: pd.Series, wide: pd.DataFrame | None, coords: pd.DataFrame,
                 max_km: float) -> pd.Series:
    values = pd.Series(np.nan, index=short.index)
    if wide is None or sid not in coords.index:
        return values
    others = [s for s in wide.columns if s != sid and s in coords.index]
    if not others:
        return values
    d = _haversine_km(coords.loc[sid, "lat"], coords.loc[sid, "lon"], coords.loc[others, "lat"].to_numpy(),
                      coords.loc[others, "lon"].to_numpy())
    for km, other in sorted(zip(d, others, strict=True)):
        if km > max_km:
            break
        need = short & values.isna()
        if not need.any():
            break
        values[need] = wide[other].reindex(short.index)[need]
    return values


def _haversine_km(lat1: float | np.ndarray, lon1: float | np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance, km (R = 6371 km)."""
    p1, p2 = np.deg2rad(lat1), np.deg2rad(lat2)
    dp, dl = p2 - p1, np.deg2rad(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(h))
