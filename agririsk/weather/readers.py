"""Weather inputs: station tables and CF-netCDF grids, checked on the way in (CONTRACTS.md §5).

Quality control happens in the same pass as reading. A bad value becomes missing and is
reported; problems are grouped into one :class:`~agririsk.inputs.report.Problem` per
station (or grid variable) and kind, with the count and the first few dates, so a file
with thousands of bad rows gives a handful of lines.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from agririsk.errors import InputError, MissingColumnError, MissingFileError
from agririsk.inputs._tables import (
    RowProblems,
    parse_dates,
    parse_numbers,
    read_csv_table,
    row_label,
    skip_duplicates,
)
from agririsk.inputs.report import Report
from agririsk.weather.qc import STUCK_DAYS, stuck_runs

__all__ = ["read_stations", "read_station_daily", "read_weather_grid", "PHYSICAL_LIMITS"]

logger = logging.getLogger(__name__)

#: Plausible range of each daily variable; values outside become missing.
PHYSICAL_LIMITS: dict[str, tuple[float, float]] = {
    "tmin_c": (-70.0, 60.0),
    "tmax_c": (-70.0, 60.0),
    "precip_mm": (0.0, 500.0),
    "rh_mean_pct": (0.0, 100.0),
    "wind_ms": (0.0, 75.0),
    "solar_mj_m2": (0.0, 45.0),
    "et0_mm": (0.0, 25.0),
}
_DAILY_REQUIRED = ("station_id", "date", "tmin_c", "tmax_c", "precip_mm")
_DAILY_OPTIONAL = ("rh_mean_pct", "wind_ms", "solar_mj_m2", "et0_mm")
_FIRST_DATES = 5


def read_stations(path: str | Path, report: Report) -> pd.DataFrame:
    """Read and check ``stations.csv``.

    Parameters
    ----------
    path : the station table: ``station_id``, ``lat``, ``lon`` (degrees, WGS 84),
        ``elevation_m`` (metres above sea level; optional, reported when absent).
    report : problems of single stations are added here and the station is skipped.

    Returns
    -------
    pandas.DataFrame
        ``station_id`` (str), ``lat``, ``lon``, ``elevation_m`` (float; NaN when unknown).

    Raises
    ------
    MissingFileError, InputError, MissingColumnError
        The file is missing, unreadable or lacks ``station_id``, ``lat`` or ``lon``.

    Notes
    -----
    Skipped: empty ``station_id``; ``lat``/``lon`` missing, not numbers or outside
    [-90, 90] / [-180, 180]. Duplicate ``station_id``: identical copies keep the first,
    copies that disagree are all skipped. An impossible elevation (below -500 m or above
    9000 m) becomes NaN.
    """
    path = Path(path)
    table = read_csv_table(path, required=("station_id", "lat", "lon"), kind="station table", report=report)
    rows = RowProblems(report, path)
    keep = pd.Series(True, index=table.index)

    def where(label: object) -> str:
        sid = table.at[label, "station_id"]
        return row_label(label) + ("" if pd.isna(sid) else f", station {sid}")

    empty = table["station_id"].isna()
    rows.add_mask("empty station_id", empty, where, "station_id is empty; station skipped", "fill in station_id")
    keep &= ~empty
    skip_duplicates(table, keep, "station_id", rows, where, unit="station")
    out = pd.DataFrame({"station_id": table["station_id"].astype(str)}, index=table.index)
    for column, (low, high) in (("lat", (-90.0, 90.0)), ("lon", (-180.0, 180.0))):
        values, _ = parse_numbers(table[column])
        invalid = keep & ~values.between(low, high)
        rows.add_mask(f"{column} invalid", invalid, where,
                      f"{column} is missing, not a number or outside [{low:g}, {high:g}]; station skipped",
                      "give coordinates in decimal degrees (WGS 84)")
        keep &= ~invalid
        out[column] = values
    if "elevation_m" in table.columns:
        elevation, bad = parse_numbers(table["elevation_m"])
        implausible = keep & (bad | (elevation < -500) | (elevation > 9000))
        rows.add_mask("elevation invalid", implausible, where,
                      "elevation_m is not a plausible height in metres; set missing", "check the value")
        out["elevation_m"] = elevation.mask(implausible)
    else:
        report.warning(path, "", "no elevation_m column; station elevations unknown",
                       "add elevation_m (metres above sea level): ET0 needs it")
        out["elevation_m"] = np.nan
    rows.flush()
    out = out.loc[keep].reset_index(drop=True)
    report.count("stations", len(out))
    return out


def read_station_daily(
    path: str | Path, report: Report, *, station_ids: Iterable[str] | None = None,
    until: dt.date | None = None,
) -> pd.DataFrame:
    """Read and quality-control daily station observations.

    Parameters
    ----------
    path : ``daily.csv``: ``station_id``, ``date`` (YYYY-MM-DD), ``tmin_c``, ``tmax_c``
        (°C), ``precip_mm`` (mm/day), optional ``rh_mean_pct`` (%), ``wind_ms`` (m/s at
        2 m), ``solar_mj_m2`` (MJ m-2 day-1), ``et0_mm`` (mm/day).
    report : problems are added here, one per station and kind.
    station_ids : the stations of the station table; rows of other stations are
        reported (one problem per unknown station) and skipped. ``None`` skips the check.
    until : rows dated after this day are dropped before any check, so nothing later (not
        even a stuck-sensor run that continues past it) influences the result.

    Returns
    -------
    pandas.DataFrame
        Tidy, sorted by ``station_id`` and ``date``: ``station_id`` (str), ``date``
        (``datetime64``, day), the three required variables and whichever optional ones
        the file has (float, NaN where missing or rejected). Each column's unit is in
        ``DataFrame.attrs["units"]``.

    Raises
    ------
    MissingFileError, InputError, MissingColumnError
        The file is missing, unreadable or lacks a required column.

    Notes
    -----
    Quality control, in this order: rows without station or valid date are skipped;
    duplicate (``station_id``, ``date``) rows keep the first; cells that are not numbers
    become NaN; negative rain becomes NaN; values outside :data:`PHYSICAL_LIMITS` become
    NaN; days with ``tmin_c`` > ``tmax_c`` get both set NaN; a sensor repeating one value
    on :data:`~agririsk.weather.qc.STUCK_DAYS` or more consecutive days (zero rain
    excepted) has the repeats set NaN (:func:`~agririsk.weather.qc.stuck_runs`). Missing days inside a
    station's first-to-last date span are reported as gaps (not filled here).
    """
    path = Path(path)
    table = read_csv_table(path, required=_DAILY_REQUIRED, kind="daily weather table", report=report)
    rows = RowProblems(report, path)
    issues = _StationIssues(report, path)
    no_station = table["station_id"].isna()
    rows.add_mask("empty station_id", no_station, row_label, "station_id is empty; row skipped", "fill in station_id")
    table = table.loc[~no_station]
    dates, bad = parse_dates(table["date"])
    no_date = dates.isna()
    rows.add_mask("bad date", no_date, row_label, "date is missing or not YYYY-MM-DD; row skipped",
                  "write dates as YYYY-MM-DD")
    rows.flush()
    table = table.loc[~no_date]
    dates = dates.loc[~no_date]
    if until is not None:
        known_by = dates <= pd.Timestamp(until)
        table, dates = table.loc[known_by], dates.loc[known_by]

    if station_ids is not None:
        known = set(map(str, station_ids))
        unknown = ~table["station_id"].isin(known)
        for sid, count in table.loc[unknown, "station_id"].value_counts(sort=False).items():
            report.warning(path, f"station {sid}",
                           f"station not in the station table: {count} row(s) skipped",
                           "add the station to stations.csv or fix the station_id")
        table, dates = table.loc[~unknown], dates.loc[~unknown]

    variables = [c for c in (*_DAILY_REQUIRED[2:], *_DAILY_OPTIONAL) if c in table.columns]
    out = pd.DataFrame({"station_id": table["station_id"].astype(str), "date": dates})
    for column in variables:
        values, bad = parse_numbers(table[column])
        issues.add(out, bad, f"{column} is not a number (set missing)")
        out[column] = values
    out = out.sort_values(["station_id", "date"], kind="stable")

    duplicated = out.duplicated(["station_id", "date"], keep="first")
    issues.add(out, duplicated, "duplicate date (the first row is kept, the others skipped)")
    out = out.loc[~duplicated]
    if "precip_mm" in out:
        negative = out["precip_mm"] < 0
        issues.add(out, negative, "negative rain (set missing)")
        out["precip_mm"] = out["precip_mm"].mask(negative)
    for column in variables:
        low, high = PHYSICAL_LIMITS[column]
        outside = (out[column] < low) | (out[column] > high)
        issues.add(out, outside, f"{column} outside the physical limits [{low:g}, {high:g}] (set missing)")
        out[column] = out[column].mask(outside)
    swapped = out["tmin_c"] > out["tmax_c"]
    issues.add(out, swapped, "tmin_c greater than tmax_c (both set missing)")
    out.loc[swapped, ["tmin_c", "tmax_c"]] = np.nan
    for column in variables:
        if column == "et0_mm":
            continue
        stuck = stuck_runs(out, column)
        issues.add(out, stuck, f"stuck sensor: {column} repeats one value for {STUCK_DAYS} or more days "
                               "(the repeats set missing)")
        out[column] = out[column].mask(stuck)
    issues.flush()
    _report_gaps(out, report, path)

    out = out.reset_index(drop=True)
    out.attrs["units"] = {"tmin_c": "degC", "tmax_c": "degC", "precip_mm": "mm/day", "rh_mean_pct": "%",
                          "wind_ms": "m/s", "solar_mj_m2": "MJ m-2 day-1", "et0_mm": "mm/day"}
    report.count("weather_days", len(out))
    return out


class _StationIssues:
    """One problem per station and kind: the count and the first few dates."""

    def __init__(self, report: Report, source: Path) -> None:
        self._report = report
        self._source = str(source)
        self._found: list[tuple[str, str, int, list[str]]] = []

    def add(self, frame: pd.DataFrame, mask: pd.Series, what: str) -> None:
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        hits = frame.loc[mask, ["station_id", "date"]]
        for sid, group in hits.groupby("station_id", sort=True):
            days = group["date"].sort_values().dt.strftime("%Y-%m-%d").tolist()
            self._found.append((str(sid), what, len(days), days))

    def flush(self) -> None:
        for sid, what, count, days in sorted(self._found, key=lambda f: f[0]):
            shown = ", ".join(days[:_FIRST_DATES]) + (", ..." if count > _FIRST_DATES else "")
            self._report.warning(self._source, f"station {sid}", f"{what}: {count} day(s): {shown}",
                                 "check the station's records for those days")
        self._found.clear()


def _report_gaps(frame: pd.DataFrame, report: Report, source: Path) -> None:
    for sid, group in frame.groupby("station_id", sort=True):
        days = pd.DatetimeIndex(group["date"].unique()).sort_values()
        if len(days) < 2:
            continue
        missing = pd.date_range(days[0], days[-1], freq="D").difference(days)
        if missing.empty:
            continue
        runs = _runs(missing)
        shown = ", ".join(
            a.strftime("%Y-%m-%d") if a == b else f"{a:%Y-%m-%d}..{b:%Y-%m-%d}" for a, b in runs[:_FIRST_DATES]
        ) + (", ..." if len(runs) > _FIRST_DATES else "")
        report.warning(str(source), f"station {sid}",
                       f"gap: {len(missing)} missing day(s) in {len(runs)} gap(s) between "
                       f"{days[0]:%Y-%m-%d} and {days[-1]:%Y-%m-%d}: {shown}",
                       "add the missing days if they exist; short gaps are filled later and counted")
        report.count("weather_missing_days", len(missing))


def _runs(days: pd.DatetimeIndex) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Consecutive runs of days as (first, last) pairs."""
    steps = days[1:] - days[:-1]
    breaks = np.flatnonzero(steps != pd.Timedelta(days=1))
    starts = [0, *(int(b) + 1 for b in breaks)]
    ends = [*(int(b) for b in breaks), len(days) - 1]
    return [(days[s], days[e]) for s, e in zip(starts, ends, strict=True)]


# --- gridded weather ----------------------------------------------------------------

_GRID_REQUIRED = ("tasmin", "tasmax", "pr")
_GRID_OPTIONAL = ("rsds", "sfcWind", "hurs")
_LIMITS = {"tasmin": (-70.0, 60.0), "tasmax": (-70.0, 60.0), "pr": (0.0, 500.0),
           "rsds": (0.0, 45.0), "sfcWind": (0.0, 75.0), "hurs": (0.0, 100.0)}


def _norm(units: str) -> str:
    return " ".join(units.replace("**", "").replace("^", "").replace("/", " / ").split()).lower()


# (unit spelled the CF or common way, normalised) -> (scale, offset) to the target unit.
_CONVERSIONS: dict[str, tuple[str, dict[str, tuple[float, float]]]] = {
    "temperature": ("degC", {
        "k": (1.0, -273.15), "kelvin": (1.0, -273.15), "degk": (1.0, -273.15), "deg_k": (1.0, -273.15),
        "degc": (1.0, 0.0), "deg_c": (1.0, 0.0), "celsius": (1.0, 0.0), "°c": (1.0, 0.0), "c": (1.0, 0.0),
        "degree_celsius": (1.0, 0.0), "degrees_celsius": (1.0, 0.0),
    }),
    "pr": ("mm day-1", {
        "kg m-2 s-1": (86400.0, 0.0), "kg / m2 / s": (86400.0, 0.0), "mm s-1": (86400.0, 0.0),
        "mm / s": (86400.0, 0.0), "mm day-1": (1.0, 0.0), "mm d-1": (1.0, 0.0), "mm / day": (1.0, 0.0),
        "mm / d": (1.0, 0.0), "mm": (1.0, 0.0), "kg m-2 day-1": (1.0, 0.0), "kg m-2 d-1": (1.0, 0.0),
        "m": (1000.0, 0.0), "m day-1": (1000.0, 0.0), "m d-1": (1000.0, 0.0),
    }),
    "rsds": ("MJ m-2 day-1", {
        "w m-2": (0.0864, 0.0), "w / m2": (0.0864, 0.0), "mj m-2 day-1": (1.0, 0.0),
        "mj m-2 d-1": (1.0, 0.0), "mj / m2 / day": (1.0, 0.0), "mj m-2": (1.0, 0.0), "j m-2": (1e-6, 0.0),
    }),
    "sfcWind": ("m s-1", {"m s-1": (1.0, 0.0), "m / s": (1.0, 0.0)}),
    "hurs": ("%", {"%": (1.0, 0.0), "percent": (1.0, 0.0), "1": (100.0, 0.0)}),
}


def read_weather_grid(path: str | Path, report: Report) -> xr.Dataset:
    """Read a daily CF-netCDF weather grid, converting units and checking values.

    Parameters
    ----------
    path : netCDF with a ``time`` dimension, ``lat``/``lon`` (or ``latitude``/
        ``longitude``, or projected ``x``/``y``), variables ``tasmin``, ``tasmax`` (K or
        degC), ``pr`` (kg m-2 s-1, mm/day or m/day), optional ``rsds`` (W m-2 or MJ m-2
        day-1), ``sfcWind`` (m s-1), ``hurs`` (% or fraction), each with a ``units``
        attribute.
    report : problems are added here, one per variable and kind.

    Returns
    -------
    xarray.Dataset
        The variables above in degC, mm day-1, MJ m-2 day-1, m s-1 and %, with their
        ``units`` attribute set; impossible values (outside physical limits, negative
        rain, tasmin > tasmax) are NaN; time sorted with duplicate times dropped.
        Loaded in memory (a region's daily grid is small).

    Raises
    ------
    MissingFileError, InputError
        The file is missing or unreadable, or a temperature or rain variable has a
        missing or unknown ``units`` attribute.
    MissingColumnError
        ``tasmin``, ``tasmax``, ``pr`` or the ``time`` coordinate is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: weather grid not found. Check [weather] grid in region.toml.")
    try:
        with xr.open_dataset(path) as opened:
            ds = opened.load()
    except Exception as exc:  # netCDF backends raise many kinds
        hint = ""
        with path.open("rb") as fh:
            if fh.read(4) == b"\x89HDF" and not _has_module("h5netcdf") and not _has_module("netCDF4"):
                hint = (" It is a netCDF-4 (HDF5) file: install h5netcdf (pip install h5netcdf), "
                        "or convert it with `nccopy -k classic`.")
        raise InputError(
            f"{path}: cannot be read as netCDF ({type(exc).__name__}: {_first_line(exc)}).{hint}"
        ) from exc
    ds = ds.rename({k: v for k, v in {"latitude": "lat", "longitude": "lon"}.items() if k in ds.variables})
    missing = [v for v in _GRID_REQUIRED if v not in ds.data_vars]
    if missing or "time" not in ds.dims:
        missing += [] if "time" in ds.dims else ["time dimension"]
        raise MissingColumnError(
            f"{path}: {', '.join(missing)} missing (found: {', '.join(map(str, ds.data_vars))}). "
            "Name the variables as CF does: tasmin, tasmax, pr (CONTRACTS.md §5)."
        )
    if not (("lat" in ds.coords and "lon" in ds.coords) or ("x" in ds.coords and "y" in ds.coords)):
        report.warning(path, "", "no lat/lon or x/y coordinates found", "add CF coordinates lat and lon")
    out = xr.Dataset(coords=ds.coords, attrs=ds.attrs)
    for name in (*_GRID_REQUIRED, *_GRID_OPTIONAL):
        if name not in ds.data_vars:
            continue
        try:
            out[name] = _to_units(ds[name], "temperature" if name.startswith("tas") else name, path)
        except InputError as exc:
            if name in _GRID_REQUIRED:
                raise
            report.warning(path, name, f"{exc}; variable ignored", "fix its units attribute")
    out = out.sortby("time")
    duplicated = out.indexes["time"].duplicated()
    if duplicated.any():
        report.warning(path, "time", f"{int(duplicated.sum())} duplicate time step(s); the first is kept",
                       "write each day once")
        out = out.isel(time=~duplicated)
    times = out.indexes["time"]
    if isinstance(times, pd.DatetimeIndex) and len(times) > 1:
        missing_days = pd.date_range(times[0].normalize(), times[-1].normalize(), freq="D").difference(
            times.normalize())
        if len(missing_days):
            runs = _runs(missing_days)
            shown = ", ".join(f"{a:%Y-%m-%d}..{b:%Y-%m-%d}" for a, b in runs[:_FIRST_DATES])
            report.warning(path, "time", f"gap: {len(missing_days)} missing day(s) in {len(runs)} gap(s): {shown}",
                           "add the missing days")
    for name in map(str, list(out.data_vars)):
        low, high = _LIMITS[name]
        values = out[name]
        if name == "pr":
            negative = values < 0
            _grid_issue(report, path, name, negative, "negative rain (set missing)")
            values = values.where(~negative)
        outside = (values < low) | (values > high)
        _grid_issue(report, path, name, outside, f"values outside [{low:g}, {high:g}] (set missing)")
        out[name] = values.where(~outside).assign_attrs(values.attrs)
    swapped = out["tasmin"] > out["tasmax"]
    _grid_issue(report, path, "tasmin", swapped, "tasmin greater than tasmax (both set missing)")
    for name in ("tasmin", "tasmax"):
        out[name] = out[name].where(~swapped).assign_attrs(out[name].attrs)
    report.count("weather_grid_days", out.sizes["time"])
    return out


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _to_units(var: xr.DataArray, kind: str, path: Path) -> xr.DataArray:
    target, table = _CONVERSIONS[kind]
    units = var.attrs.get("units")
    if units is None:
        raise InputError(f"{path}: variable {var.name} has no units attribute; add units (e.g. {target!r})")
    factor = table.get(_norm(str(units)))
    if factor is None:
        raise InputError(
            f"{path}: variable {var.name} has units {units!r}, which agririsk does not know "
            f"(known: {', '.join(sorted(table))})"
        )
    scale, offset = factor
    converted = var.astype("float64") * scale + offset
    return converted.assign_attrs({**var.attrs, "units": target})


def _grid_issue(report: Report, path: Path, name: str, mask: xr.DataArray, what: str) -> None:
    count = int(mask.sum())
    if not count:
        return
    days = mask.any([d for d in mask.dims if d != "time"]) if "time" in mask.dims else mask
    first = [f"{t:%Y-%m-%d}" for t in pd.DatetimeIndex(days["time"][days.values].values)[:_FIRST_DATES]] \
        if "time" in mask.dims else []
    report.warning(str(path), name, f"{what}: {count} value(s)" + (f", first on {', '.join(first)}" if first else ""),
                   "check the grid's source")
