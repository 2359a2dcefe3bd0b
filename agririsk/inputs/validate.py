"""Check every input of a region in one pass and cross-check them against each other."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import shapely

from agririsk.errors import InputError
from agririsk.inputs._tables import RowProblems
from agririsk.inputs.farmers import read_farmers
from agririsk.inputs.loans import read_loans
from agririsk.inputs.parcels import read_parcels
from agririsk.inputs.report import Report
from agririsk.region import Region, Season

__all__ = ["validate_region", "PAST_SEASONS"]

logger = logging.getLogger(__name__)

#: How many past seasons are looked at for imagery history.
PAST_SEASONS = 5

T = TypeVar("T")


def validate_region(region: Region, *, report: Report | None = None) -> Report:
    """Read and check every input of ``region``, and how they fit together.

    Parameters
    ----------
    region : the region, from :meth:`agririsk.region.Region.from_toml` (which has already
        checked region.toml itself: unknown keys, missing files).
    report : add the problems to this report; a new one by default.

    Returns
    -------
    Report
        Every problem found. ``report.usable`` is False (there are errors) when a required
        file is missing or unreadable, a required column is missing, there are no valid
        parcels, no farmers, no weather, or no usable imagery items; everything else is a
        warning: the parcel, farmer, loan, row or item concerned is repaired or skipped.

    Notes
    -----
    Cross-checks beyond the single readers: parcels whose ``farmer_id`` is not in the
    farmers table; farmers without parcels; loans of unknown farmers; parcels outside the
    union of the imagery footprints; stations without observations; no imagery in the
    season, in the past :data:`PAST_SEASONS` seasons, or in the season of a past loan.
    """
    report = report if report is not None else Report()
    _check_crs(region, report)
    parcels = _attempt(report, region.parcels_path, lambda: read_parcels(region.parcels_path, report))
    farmers = _attempt(report, region.farmers_path, lambda: read_farmers(region.farmers_path, report))
    loans = None
    if region.history_path is not None:
        known = None if farmers is None else farmers["farmer_id"].tolist()
        loans = _attempt(report, region.history_path,
                         lambda: read_loans(region.history_path, report, farmer_ids=known))  # type: ignore[arg-type]
    _check_weather(region, report)
    items = _load_items(region, report)

    if parcels is not None and parcels.empty:
        report.error(region.parcels_path, "", "no valid parcels left after the checks above",
                     "fix the parcels reported above")
    if farmers is not None and farmers.empty:
        report.error(region.farmers_path, "", "no valid farmers left after the checks above",
                     "fix the farmers reported above")
    if parcels is not None and farmers is not None:
        _cross_check_owners(parcels, farmers, region, report)
    if items is not None:
        if not items:
            report.error(region.imagery_catalog, "", "no usable imagery items",
                         "point [imagery] catalog at a STAC catalog with Sentinel-2 or Landsat items")
        else:
            if parcels is not None and not parcels.empty:
                _check_footprints(parcels, items, region, report)
            _check_seasons(items, region, loans, report)
    logger.info("validated %s: %d errors, %d warnings", region.path, len(report.errors), len(report.warnings))
    return report


def _attempt(report: Report, source: Path | str, read: Callable[[], T]) -> T | None:
    """Run a reader; a whole-file problem becomes an error in the report."""
    try:
        return read()
    except InputError as exc:
        _record(report, source, exc)
        return None


def _record(report: Report, source: Path | str, exc: InputError) -> None:
    message = str(exc)
    prefix = f"{source}: "
    report.error(source, "", message[len(prefix):] if message.startswith(prefix) else message)


def _check_crs(region: Region, report: Report) -> None:
    if region.crs is None:
        return
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        CRS.from_user_input(region.crs)
    except CRSError:
        report.error(region.path, "crs", f"crs = {region.crs!r} is not a coordinate reference system",
                     "write an EPSG code such as \"EPSG:32651\", or remove the key")


def _check_weather(region: Region, report: Report) -> None:
    from agririsk.weather.readers import read_station_daily, read_stations, read_weather_grid

    if region.weather_grid is not None:
        grid = _attempt(report, region.weather_grid, lambda: read_weather_grid(region.weather_grid, report))  # type: ignore[arg-type]
        if grid is not None and grid.sizes.get("time", 0) == 0:
            report.error(region.weather_grid, "", "the weather grid has no time steps", "provide daily data")
        return
    stations_path, daily_path = region.weather_stations, region.weather_observations
    assert stations_path is not None and daily_path is not None  # Region.from_toml checks the form
    stations = _attempt(report, stations_path, lambda: read_stations(stations_path, report))  # type: ignore[arg-type]
    ids = None if stations is None else stations["station_id"].tolist()
    daily = _attempt(report, daily_path,
                     lambda: read_station_daily(daily_path, report, station_ids=ids))  # type: ignore[arg-type]
    if stations is not None and stations.empty:
        report.error(stations_path, "", "no valid weather stations", "fix the stations reported above")
    if daily is not None and daily.empty:
        report.error(daily_path, "", "no valid daily weather observations", "fix the rows reported above")
    if stations is not None and daily is not None and not daily.empty:
        silent = sorted(set(stations["station_id"]) - set(daily["station_id"]))
        for sid in silent:
            report.warning(stations_path, f"station {sid}", "no daily observations for this station",
                           "add its observations to the daily table or remove the station")


def _load_items(region: Region, report: Report) -> list[Any] | None:
    """The imagery items, ``[]`` when there are none, None when they could not be checked."""
    try:
        from agririsk.imagery import load_items
    except ImportError:
        report.warning(region.imagery_catalog, "", "imagery not checked: agririsk.imagery.load_items is not available",
                       "update agririsk")
        return None
    try:
        items = list(load_items(region.imagery_catalog, collection=region.imagery_collection, report=report))
    except InputError as exc:
        _record(report, region.imagery_catalog, exc)
        return None
    report.count("imagery_items", len(items))
    return items


def _cross_check_owners(parcels: pd.DataFrame, farmers: pd.DataFrame, region: Region, report: Report) -> None:
    known = set(farmers["farmer_id"])
    rows = RowProblems(report, region.parcels_path)
    for pid, fid in zip(parcels["parcel_id"], parcels["farmer_id"], strict=True):
        if fid not in known:
            rows.add("unknown farmer", f"parcel_id {pid}", f"farmer_id {fid} is not in the farmers table",
                     "add the farmer to farmers.csv or fix the parcel's farmer_id")
    rows.flush()
    owners = set(parcels["farmer_id"])
    rows = RowProblems(report, region.farmers_path)
    for fid in farmers["farmer_id"]:
        if fid not in owners:
            rows.add("no parcels", f"farmer_id {fid}", "farmer has no parcels; the farm cannot be scored from imagery",
                     "add the farmer's fields to the parcels file")
    rows.flush()


def _check_footprints(parcels: Any, items: Sequence[Any], region: Region, report: Report) -> None:
    footprints = [item.footprint for item in items if getattr(item, "footprint", None) is not None]
    if not footprints:
        report.info(region.imagery_catalog, "", "the items have no footprints; parcels not checked against them")
        return
    covered = shapely.union_all(footprints)
    in_wgs84 = parcels.to_crs("EPSG:4326")
    outside = ~in_wgs84.intersects(covered)
    rows = RowProblems(report, region.parcels_path)
    for pid in in_wgs84.loc[outside, "parcel_id"]:
        rows.add("outside imagery", f"parcel_id {pid}", "parcel lies outside every imagery footprint",
                 "check its coordinates and CRS, or add imagery that covers it")
    rows.flush()


def _item_days(items: Sequence[Any]) -> pd.DatetimeIndex:
    stamps = [getattr(item, "datetime", None) for item in items]
    days = pd.to_datetime([s for s in stamps if s is not None], utc=True)
    return pd.DatetimeIndex(days.tz_convert(None).normalize())


def _count_in(days: pd.DatetimeIndex, start: dt.date, end: dt.date) -> int:
    return int(((days >= pd.Timestamp(start)) & (days <= pd.Timestamp(end))).sum())


def _check_seasons(items: Sequence[Any], region: Region, loans: pd.DataFrame | None, report: Report) -> None:
    days = _item_days(items)
    source = region.imagery_catalog
    season = region.season
    if not _count_in(days, season.start, season.end):
        report.warning(source, "", f"no imagery items in the season {season.start}..{season.end}",
                       "monitoring needs imagery of the season; add items as they are acquired")
    past: list[Season] = [season.shifted_years(-k) for k in range(1, PAST_SEASONS + 1)]
    if not any(_count_in(days, s.start, s.end) for s in past):
        report.warning(source, "", f"no imagery items in the past {PAST_SEASONS} seasons "
                       f"({past[-1].start.year}..{past[0].start.year})",
                       "add past seasons' imagery: scores use each field's history")
    if loans is not None and not loans.empty:
        windows = loans.groupby(["season_start", "season_end"]).size()
        bare = [(s, e, n) for (s, e), n in windows.items() if not _count_in(days, s.date(), e.date())]
        if bare:
            shown = ", ".join(f"{s:%Y-%m-%d}..{e:%Y-%m-%d} ({n} loans)" for s, e, n in bare[:5])
            report.warning(source, "", f"no imagery items in {len(bare)} loan season(s): {shown}",
                           "add imagery of those seasons, or those loans cannot be used for training")
