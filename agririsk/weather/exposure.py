"""Weather exposure of every parcel and season: indices, water balance, relative yield.

:func:`weather_exposure` is the one call the score and monitoring runs make: it reads the
region's weather up to the as-of date (nothing later is used), checks and fills it,
assigns sources to parcels, and for each parcel and season computes the agro-climatic
indices of :mod:`agririsk.weather.indices` over the crop's calendar and runs the FAO-56
water balance of :mod:`agririsk.crop_models.water_balance`. :func:`farm_weather_history`
aggregates the result per farmer for scoring.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from agririsk.crop_models.crops import crop_params
from agririsk.crop_models.water_balance import crop_arrays, run_seasons, taw_per_m
from agririsk.errors import NoDataError
from agririsk.inputs.report import Report
from agririsk.region import Region, Season
from agririsk.weather.assign import Assignment, assign_grid, assign_stations
from agririsk.weather.et0 import hargreaves_array, penman_monteith_array, wind_at_2m
from agririsk.weather.indices import (
    count_kernel,
    dry_spell_kernel,
    gdd_kernel,
    monthly_totals,
    spi_kernel,
    sum_kernel,
)
from agririsk.weather.qc import REQUIRED, SHORT_GAP_DAYS, fill_short_gaps
from agririsk.weather.readers import read_station_daily, read_stations, read_weather_grid

__all__ = ["SourceWeather", "load_weather", "weather_exposure", "exposure_from_weather", "farm_weather_history",
           "DROUGHT_RELATIVE_YIELD", "FLOWERING_HALF_WINDOW_DAYS"]

logger = logging.getLogger(__name__)

#: A parcel-season whose water-limited relative yield falls below this is a drought season.
DROUGHT_RELATIVE_YIELD = 0.8
#: Heat-stress days are counted this many days either side of flowering.
FLOWERING_HALF_WINDOW_DAYS = 10
_VARIABLES = ("tmin_c", "tmax_c", "precip_mm", "rh_mean_pct", "wind_ms", "solar_mj_m2", "et0_mm")
_GRID_NAMES = {"tasmin": "tmin_c", "tasmax": "tmax_c", "pr": "precip_mm", "rsds": "solar_mj_m2",
               "sfcWind": "wind_ms", "hurs": "rh_mean_pct"}
_GRID_WIND_HEIGHT_M = 10.0  # CF sfcWind is near-surface wind, conventionally at 10 m


@dataclass(frozen=True)
class SourceWeather:
    """Daily weather of every source (station or grid cell), checked and gap-filled.

    Attributes
    ----------
    kind : ``stations`` or ``grid``.
    sources : one row per source column: ``source_id``, ``lat``, ``lon``, ``elevation_m``.
    dates : the days of the arrays (continuous).
    data : variable name (CONTRACTS.md §5 station names) -> (day, source) array in degC,
        mm/day, MJ m-2 day-1, m/s (at 2 m), %.
    """

    kind: str
    sources: pd.DataFrame
    dates: pd.DatetimeIndex
    data: dict[str, np.ndarray]

    def until(self, day: dt.date | pd.Timestamp) -> SourceWeather:
        """The record cut after ``day`` (nothing later can leak into a result)."""
        keep = self.dates <= pd.Timestamp(day)
        return SourceWeather(self.kind, self.sources, self.dates[keep], {k: v[keep] for k, v in self.data.items()})

    def window(self, days: pd.DatetimeIndex) -> dict[str, np.ndarray]:
        """The arrays on ``days`` (NaN where the record has no day)."""
        pos = self.dates.get_indexer(days)
        ok = pos >= 0
        out = {}
        for k, v in self.data.items():
            w = np.full((len(days), v.shape[1]), np.nan)
            w[ok] = v[pos[ok]]
            out[k] = w
        return out


def load_weather(region: Region, report: Report, *, until: dt.date) -> SourceWeather:
    """Read, check and gap-fill the region's weather, keeping only days up to ``until``.

    Station tables: :func:`read_stations`, :func:`read_station_daily`, then
    :func:`agririsk.weather.qc.fill_short_gaps`. Grids: :func:`read_weather_grid`, cells
    flattened in (lat, lon) order, short gaps of temperature-like variables interpolated
    (counted), ``sfcWind`` taken at 10 m and converted to 2 m (FAO-56 eq. 47).
    """
    end = pd.Timestamp(until)
    if region.weather_grid is not None:
        grid = read_weather_grid(region.weather_grid, report)
        grid = grid.sel(time=grid["time"] <= end + pd.Timedelta(hours=23, minutes=59))
        if grid.sizes["time"] == 0:
            raise NoDataError(f"{region.weather_grid}: no weather on or before the as-of date {until}")
        times = pd.DatetimeIndex(grid["time"].to_numpy()).normalize()
        dates = pd.date_range(times.min(), times.max(), freq="D")
        lat, lon = grid["lat"].to_numpy(), grid["lon"].to_numpy()
        data = {}
        for name, var in _GRID_NAMES.items():
            if name not in grid:
                continue
            arr = grid[name].transpose("time", "lat", "lon").to_numpy().reshape(len(times), -1)
            frame = pd.DataFrame(arr, index=times).reindex(dates)
            if var != "precip_mm":
                filled = frame.interpolate(method="time", limit=SHORT_GAP_DAYS, limit_area="inside")
                n = int(frame.isna().sum().sum() - filled.isna().sum().sum())
                if n:
                    report.info(region.weather_grid, name, f"{n} value(s) in short gaps filled by linear interpolation")
                    report.count("weather_filled_values", n)
                frame = filled
            data[var] = frame.to_numpy()
        if "wind_ms" in data:
            data["wind_ms"] = wind_at_2m(data["wind_ms"], _GRID_WIND_HEIGHT_M)
        la, lo = np.meshgrid(lat, lon, indexing="ij")
        sources = pd.DataFrame({"source_id": [f"{a:.4f},{b:.4f}" for a, b in zip(la.ravel(), lo.ravel(), strict=True)],
                                "lat": la.ravel(), "lon": lo.ravel(), "elevation_m": np.nan})
        return SourceWeather("grid", sources, dates, data)
    stations = read_stations(region.weather_stations, report)  # type: ignore[arg-type]
    daily = read_station_daily(region.weather_observations, report,  # type: ignore[arg-type]
                               station_ids=stations["station_id"], until=until)
    if daily.empty:
        raise NoDataError(f"{region.weather_observations}: no weather on or before the as-of date {until}")
    daily = fill_short_gaps(daily, stations, report, source=str(region.weather_observations))
    ids = [s for s in stations["station_id"] if s in set(daily["station_id"])]
    dates = pd.date_range(daily["date"].min(), daily["date"].max(), freq="D")
    data = {}
    for var in _VARIABLES:
        if var in daily:
            wide = daily.pivot(index="date", columns="station_id", values=var).reindex(index=dates, columns=ids)
            data[var] = wide.to_numpy(dtype=float)
    sources = stations.set_index("station_id").loc[ids].reset_index().rename(columns={"station_id": "source_id"})
    return SourceWeather("stations", sources, dates, data)


def weather_exposure(
    region: Region,
    parcels: gpd.GeoDataFrame,
    report: Report,
    *,
    seasons: Sequence[Season],
    as_of: dt.date,
    method: str = "nearest",
    soil: str | float | pd.Series = "loam",
    irrigated: pd.Series | None = None,
    sowing: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Weather exposure of every parcel in every season, from weather known on ``as_of``.

    Parameters
    ----------
    region : the region (its ``[weather]`` inputs are read).
    parcels : ``parcel_id``, ``declared_crop``, geometry (as :func:`agririsk.inputs.read_parcels` gives).
    report : weather problems and fill counts go here.
    seasons : the seasons; each crop's calendar starts in the season's start year.
    as_of : no weather after this day is read into any result (current seasons are
        evaluated to date, ``complete`` False).
    method : ``nearest`` station (lapse-rate corrected) or ``idw``; grids use the cell.
    soil : texture class or mm/m, one for all or a Series per ``parcel_id``.
    irrigated : bool per ``parcel_id``; default: rice (paddy) irrigated, others rain-fed.
    sowing : optional observed sowing dates: ``parcel_id``, ``season`` (start year),
        ``sowing_date``; otherwise the crop table's ``sowing_doy``.

    Returns
    -------
    pandas.DataFrame
        One row per parcel and season; see :func:`exposure_from_weather`.
    """
    weather = load_weather(region, report, until=as_of)
    if weather.kind == "grid":
        assignment = assign_grid(parcels, _grid_like(weather))
    else:
        assignment = assign_stations(parcels, weather.sources.rename(columns={"source_id": "station_id"}),
                                     method=method)  # type: ignore[arg-type]
    return exposure_from_weather(weather, assignment, parcels, seasons=seasons, as_of=as_of, soil=soil,
                                 irrigated=irrigated, sowing=sowing, report=report)


def _grid_like(weather: SourceWeather):  # the lat/lon axes of a flattened grid, for assign_grid
    import xarray as xr

    lat = np.unique(weather.sources["lat"].to_numpy())
    lon = np.unique(weather.sources["lon"].to_numpy())
    return xr.Dataset(coords={"lat": lat, "lon": lon})


def exposure_from_weather(
    weather: SourceWeather,
    assignment: Assignment,
    parcels: gpd.GeoDataFrame | pd.DataFrame,
    *,
    seasons: Sequence[Season],
    as_of: dt.date,
    soil: str | float | pd.Series = "loam",
    irrigated: pd.Series | None = None,
    sowing: pd.DataFrame | None = None,
    report: Report | None = None,
) -> pd.DataFrame:
    """The computation behind :func:`weather_exposure`, on weather already loaded.

    Returns
    -------
    pandas.DataFrame
        One row per parcel and season: ``parcel_id``, ``season`` (start year),
        ``season_start``, ``crop``, ``source``, ``source_id``, ``distance_km``,
        ``temp_offset_c``, ``sowing_date``, ``flowering_date``, ``end_date``,
        ``gdd`` (degC day, sowing to end), ``heat_days`` (Tmax > crop ``t_heat_c`` within
        +-10 days of flowering), ``frost_days`` (Tmin < 0 degC, sowing to end),
        ``longest_dry_spell`` (days < 1 mm), ``spi1_flowering``, ``spi3_flowering`` (SPI of
        the flowering month), ``precip_mm``, ``et0_mm``, ``p_minus_et0_mm``, ``etc_mm``,
        ``eta_mm``, ``relative_yield`` (water-limited, FAO-33), ``stress_days``,
        ``drought`` (relative yield < :data:`DROUGHT_RELATIVE_YIELD`), ``irrigated``,
        ``et0_method``, ``gap_days`` (missing days of tmin, tmax or rain in the season),
        ``weather_gap`` (a long gap: the season's values are NaN, not guessed), ``complete``
        (the season ended by ``as_of``), ``spi_method``.
    """
    report = report if report is not None else Report()
    as_of_ts = pd.Timestamp(as_of)
    weather = weather.until(as_of_ts)
    pid = parcels["parcel_id"].astype(str).to_numpy()
    declared = parcels["declared_crop"].astype(str).to_numpy()
    known = {c: crop_params(c) for c in pd.unique(declared)}
    crops = np.array([known[c].crop for c in declared], dtype=object)
    params = crop_arrays(list(crops))
    extra = {k: np.array([getattr(known[c], k) for c in declared], dtype=float)
             for k in ("sowing_doy", "days_to_peak", "t_base_c", "t_upper_c", "t_heat_c")}
    total = (params["l_ini"] + params["l_dev"] + params["l_mid"] + params["l_late"]).astype(int)
    soil_mm = _per_parcel(soil, pid, taw_per_m)
    irr = (crops == "rice") if irrigated is None else irrigated.reindex(pid).fillna(False).to_numpy(bool)
    table = assignment.table.set_index("parcel_id").reindex(pid)
    lat = table["lat"].to_numpy()
    elev = np.nan_to_num(table["elevation_m"].to_numpy(dtype=float), nan=0.0)

    # SPI on the whole record up to as_of, per parcel (calibration = the record).
    monthly = monthly_totals(pd.DataFrame(weather.data["precip_mm"], index=weather.dates))
    months = monthly.index
    parcel_monthly = assignment.apply(monthly.to_numpy())
    spi1, method1 = spi_kernel(parcel_monthly, months.month.to_numpy(), 1)
    spi3, method3 = spi_kernel(parcel_monthly, months.month.to_numpy(), 3)
    if method3 != "per-month":
        logger.info("SPI from %d months of record: method %s (see agririsk.weather.indices.spi_kernel)",
                    len(months), method3)

    frames = []
    for season in seasons:
        year = season.start.year
        sow = pd.Timestamp(year, 1, 1) + pd.to_timedelta(extra["sowing_doy"] - 1, unit="D")
        if sowing is not None:
            obs = sowing[sowing["season"] == year].set_index("parcel_id")["sowing_date"].reindex(pid)
            sow = pd.DatetimeIndex(np.where(obs.notna(), pd.to_datetime(obs), sow))
        sow = pd.DatetimeIndex(sow).normalize()
        end = sow + pd.to_timedelta(total - 1, unit="D")
        flower = sow + pd.to_timedelta(extra["days_to_peak"], unit="D")
        last = min(end.max(), as_of_ts)
        if last < sow.min():
            days = pd.DatetimeIndex([])
        else:
            days = pd.date_range(sow.min(), last, freq="D")
        out = pd.DataFrame({
            "parcel_id": pid, "season": year, "season_start": pd.Timestamp(season.start), "crop": crops,
            "source": table["source"].to_numpy(), "source_id": table["source_id"].to_numpy(),
            "distance_km": table["distance_km"].to_numpy(), "temp_offset_c": table["temp_offset_c"].to_numpy(),
            "sowing_date": sow, "flowering_date": flower, "end_date": end, "irrigated": irr,
        })
        if len(days) == 0:
            for col in ("gdd", "heat_days", "frost_days", "longest_dry_spell", "precip_mm", "et0_mm",
                        "p_minus_et0_mm", "etc_mm", "eta_mm", "relative_yield", "stress_days",
                        "spi1_flowering", "spi3_flowering"):
                out[col] = np.nan
            out["et0_method"], out["gap_days"], out["weather_gap"] = "", 0, False
            out["complete"], out["drought"], out["spi_method"] = False, False, method3
            frames.append(out)
            continue
        w = weather.window(days)
        tmin = assignment.apply(w["tmin_c"], temperature=True)
        tmax = assignment.apply(w["tmax_c"], temperature=True)
        rain = assignment.apply(w["precip_mm"])
        et0, et0_method = _parcel_et0(w, assignment, tmin, tmax, lat, elev, days)
        t = np.arange(len(days))[:, None]
        sow_i = (sow - days[0]).days.to_numpy()
        age = t - sow_i[None, :]
        window = (age >= 0) & (age < total[None, :])
        flower_i = (flower - days[0]).days.to_numpy()
        near_flower = window & (np.abs(t - flower_i[None, :]) <= FLOWERING_HALF_WINDOW_DAYS)
        required_missing = np.isnan(tmin) | np.isnan(tmax) | np.isnan(rain)
        gap_days = (required_missing & window).sum(axis=0)
        wb = run_seasons(et0, rain, sow_i, params, soil_taw_mm_per_m=soil_mm, irrigated=irr)
        out["gdd"] = gdd_kernel(tmin, tmax, extra["t_base_c"], extra["t_upper_c"], window)
        out["heat_days"] = count_kernel(tmax > extra["t_heat_c"][None, :], tmax, near_flower)
        out["frost_days"] = count_kernel(tmin < 0.0, tmin, window)
        out["longest_dry_spell"] = dry_spell_kernel(rain, window)
        out["spi1_flowering"] = _at_month(spi1, months, flower, as_of_ts)
        out["spi3_flowering"] = _at_month(spi3, months, flower, as_of_ts)
        out["precip_mm"] = sum_kernel(rain, window)
        out["et0_mm"] = sum_kernel(et0, window)
        out["p_minus_et0_mm"] = sum_kernel(rain - et0, window)
        out["etc_mm"], out["eta_mm"] = wb.etc_mm, wb.eta_mm
        out["relative_yield"] = wb.relative_yield
        out["stress_days"] = wb.stress_days
        out["drought"] = wb.relative_yield < DROUGHT_RELATIVE_YIELD
        out["et0_method"] = et0_method
        out["gap_days"] = gap_days
        out["weather_gap"] = gap_days > 0
        out["complete"] = end <= as_of_ts
        out["spi_method"] = method3
        not_sown = sow > as_of_ts
        out.loc[not_sown, ["gdd", "heat_days", "frost_days", "longest_dry_spell", "relative_yield"]] = np.nan
        if out["weather_gap"].any():
            report.count("weather_gap_parcel_seasons", int(out["weather_gap"].sum()))
        frames.append(out)
    result = pd.concat(frames, ignore_index=True)
    for col in ("gdd", "precip_mm", "et0_mm", "p_minus_et0_mm", "etc_mm", "eta_mm"):
        result[col] = result[col].astype(float).round(1)
    for col in ("relative_yield", "spi1_flowering", "spi3_flowering"):
        result[col] = result[col].astype(float).round(3)
    _report_gaps(result, report)
    return result


def _per_parcel(value: str | float | pd.Series, pid: np.ndarray, convert) -> np.ndarray:
    if isinstance(value, pd.Series):
        v = value.reindex(pid)
        return np.array([convert(x) if pd.notna(x) else convert("loam") for x in v], dtype=float)
    return np.full(len(pid), convert(value))


def _parcel_et0(w: dict[str, np.ndarray], a: Assignment, tmin: np.ndarray, tmax: np.ndarray, lat: np.ndarray,
                elev: np.ndarray, days: pd.DatetimeIndex) -> tuple[np.ndarray, str]:
    """ET0 per (day, parcel): observed where given, else Penman-Monteith (FAO-56 fallbacks) or Hargreaves."""
    doy = days.day_of_year.to_numpy()[:, None]
    optional = [k for k in ("solar_mj_m2", "wind_ms", "rh_mean_pct") if k in w]
    if optional:
        arrays = {k: a.apply(w[k]) for k in optional}
        et0 = penman_monteith_array(tmin, tmax, arrays.get("solar_mj_m2"), arrays.get("wind_ms"), lat[None, :],
                                    elev[None, :], doy, rh_mean_pct=arrays.get("rh_mean_pct"))
        complete = all(k in arrays for k in ("solar_mj_m2", "wind_ms", "rh_mean_pct"))
        method = "penman-monteith" if complete and not any(np.isnan(v).any() for v in arrays.values()) \
            else "penman-monteith (FAO-56 fallbacks for missing humidity, radiation or wind)"
    else:
        et0 = hargreaves_array(tmin, tmax, lat[None, :], doy)
        method = "hargreaves"
    if "et0_mm" in w:
        observed = a.apply(w["et0_mm"])
        if np.isfinite(observed).any():
            et0 = np.where(np.isnan(observed), et0, observed)
            method = "observed" + ("" if np.isfinite(observed).all() else f", else {method}")
    return et0, method


def _at_month(values: np.ndarray, months: pd.DatetimeIndex, when: pd.DatetimeIndex, as_of: pd.Timestamp) -> np.ndarray:
    """values[month of when[i], i], NaN when that month is unknown or not over by as_of."""
    row = months.get_indexer(when.to_period("M").to_timestamp())
    ok = (row >= 0) & (when.to_period("M").to_timestamp(how="end") <= as_of + pd.Timedelta(days=1))
    out = np.full(len(when), np.nan)
    idx = np.flatnonzero(ok)
    out[idx] = values[row[idx], idx]
    return out


def _report_gaps(result: pd.DataFrame, report: Report) -> None:
    gaps = result[result["weather_gap"]]
    for (season, source), g in gaps.groupby(["season", "source_id"], sort=True):
        report.warning("weather", f"season {season}, source {source}",
                       f"long weather gap (> {SHORT_GAP_DAYS} days of {'/'.join(REQUIRED)}): indices and water "
                       f"balance of {len(g)} parcel(s) left missing, e.g. {g['parcel_id'].iloc[0]}",
                       "supply the missing days or another station nearby")


def farm_weather_history(exposure: pd.DataFrame, parcels: pd.DataFrame) -> pd.DataFrame:
    """Per farmer: how often past seasons were droughts, and the water-limited yield's mean and spread.

    Parameters
    ----------
    exposure : :func:`weather_exposure` output (complete past seasons).
    parcels : ``parcel_id``, ``farmer_id`` (and optionally ``declared_area_ha`` to weight parcels).

    Returns
    -------
    pandas.DataFrame indexed by ``farmer_id``: ``weather_seasons`` (seasons with a value),
    ``weather_drought_frequency`` (share of seasons whose farm relative yield
    < :data:`DROUGHT_RELATIVE_YIELD`), ``weather_relative_yield_mean``,
    ``weather_relative_yield_sd`` (population sd over seasons), ``weather_gap_seasons``,
    ``weather_heat_days_mean``, ``weather_stress_days_mean``.

    Notes
    -----
    A farm's season value is the area-weighted mean over its parcels (equal weights
    without ``declared_area_ha``); parcel-seasons with a long weather gap are left out.
    """
    cols = ["parcel_id", "farmer_id"] + (["declared_area_ha"] if "declared_area_ha" in parcels else [])
    ex = exposure.merge(pd.DataFrame(parcels[cols]).astype({"parcel_id": str}), on="parcel_id", how="inner")
    ex["w"] = ex["declared_area_ha"].fillna(1.0) if "declared_area_ha" in ex else 1.0
    ok = ex[ex["relative_yield"].notna()]

    def wmean(col: str) -> pd.Series:
        return (ok[col] * ok["w"]).groupby([ok["farmer_id"], ok["season"]]).sum() / \
            ok["w"].groupby([ok["farmer_id"], ok["season"]]).sum()

    farm_season = pd.DataFrame({"ry": wmean("relative_yield"), "heat": wmean("heat_days"),
                                "stress": wmean("stress_days")})
    g = farm_season.groupby(level="farmer_id")
    out = pd.DataFrame({
        "weather_seasons": g.size(),
        "weather_drought_frequency": g["ry"].apply(lambda s: float((s < DROUGHT_RELATIVE_YIELD).mean())),
        "weather_relative_yield_mean": g["ry"].mean(),
        "weather_relative_yield_sd": g["ry"].std(ddof=0),
        "weather_heat_days_mean": g["heat"].mean(),
        "weather_stress_days_mean": g["stress"].mean(),
    })
    gaps = ex[ex["weather_gap"]].groupby("farmer_id")["season"].nunique()
    out["weather_gap_seasons"] = gaps.reindex(out.index).fillna(0).astype(int)
    farmers = pd.Index(pd.unique(parcels["farmer_id"].astype(str)), name="farmer_id")
    return out.reindex(farmers)
